package engine

import (
	"strings"
	"testing"
)

// Messages from database tools end up in workflow history: the values of
// failing rows must not.
func TestRedactRemovesRowData(t *testing.T) {
	msg := `pg_restore: error: COPY failed for table "users": ERROR:  duplicate key value violates unique constraint "users_email_key"
DETAIL:  Key (email)=(jane.doe@example.org) already exists.
CONTEXT:  COPY users, line 3: "3	jane.doe@example.org	Jane Doe	07700 900123"
ERROR:  new row for relation "t" violates check constraint "c"
DETAIL:  Failing row contains (7, secret-value).`
	got := Redact(msg)
	for _, secret := range []string{"jane.doe", "Jane Doe", "07700", "secret-value"} {
		if strings.Contains(got, secret) {
			t.Errorf("%q survived redaction:\n%s", secret, got)
		}
	}
	for _, kept := range []string{`table "users"`, "users_email_key", "COPY users, line 3", "Key (email)", "check constraint"} {
		if !strings.Contains(got, kept) {
			t.Errorf("%q lost; the message must still say what failed:\n%s", kept, got)
		}
	}
}

func TestStagingName(t *testing.T) {
	a := StagingName("orders", "run-1", 63)
	if a != StagingName("orders", "run-1", 63) || a == StagingName("orders", "run-2", 63) || !strings.HasPrefix(a, "orders"+StagingMarker) {
		t.Errorf("staging name %q not deterministic per run", a)
	}
	long := StagingName(strings.Repeat("x", 63), "run-1", 63)
	if len(long) != 63 || !strings.Contains(long, StagingMarker) {
		t.Errorf("long name %q (%d bytes)", long, len(long))
	}
}

func TestRedactMySQLMessages(t *testing.T) {
	msg := "--------------\nINSERT INTO u VALUES ('jane@example.org','07700 900123')\n--------------\n\nERROR 1062 (23000) at line 3: Duplicate entry 'jane@example.org' for key 'PRIMARY'\nERROR 1366 (22007): Incorrect integer value: 'abc' for column `shop`.`t`.`n` at row 1"
	got := Redact(msg)
	for _, secret := range []string{"jane@", "07700", "'abc'"} {
		if strings.Contains(got, secret) {
			t.Errorf("%q survived:\n%s", secret, got)
		}
	}
	for _, kept := range []string{"ERROR 1062", "at line 3", "for key 'PRIMARY'", "Incorrect integer value", "`shop`.`t`.`n`"} {
		if !strings.Contains(got, kept) {
			t.Errorf("%q lost:\n%s", kept, got)
		}
	}
}

func TestRedactMongoDuplicateKey(t *testing.T) {
	got := Redact(`insert into users: E11000 duplicate key error collection: crm.users index: email_1 dup key: { email: "jane@example.org" }`)
	if strings.Contains(got, "jane@") || !strings.Contains(got, "email_1") {
		t.Errorf("%s", got)
	}
}

// Only names with the marker pass, so a bug can never hand an engine a
// live database's name to overwrite or drop.
func TestCheckStaging(t *testing.T) {
	if err := CheckStaging("postgresql", StagingName("orders", "run-1", 63)); err != nil {
		t.Errorf("a staging name was refused: %v", err)
	}
	for _, name := range []string{"orders", "", "orders_envsync"} {
		err := CheckStaging("postgresql", name)
		if err == nil || !IsPermanent(err) || !strings.HasPrefix(err.Error(), "postgresql: ") || !strings.Contains(err.Error(), StagingMarker) {
			t.Errorf("CheckStaging(%q) = %v; want a permanent error naming the marker", name, err)
		}
	}
}
