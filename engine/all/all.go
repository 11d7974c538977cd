// Package all registers every engine and store envsync has. It is the one
// list that names them: import it (for its side effects) wherever tasks are
// read or run, and add a new engine or store here.
package all

import (
	// Engines.
	_ "github.com/envsync/envsync/engine/elastic"
	_ "github.com/envsync/envsync/engine/files"
	_ "github.com/envsync/envsync/engine/mongo"
	_ "github.com/envsync/envsync/engine/mysql"
	_ "github.com/envsync/envsync/engine/postgres"

	// Stores.
	_ "github.com/envsync/envsync/store/filestore"
	_ "github.com/envsync/envsync/store/rsyncstore"
	_ "github.com/envsync/envsync/store/s3store"
)
