package activities

import (
	"fmt"
	"os"
	"strings"

	"filippo.io/age"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
)

// Dumps encrypted with age: a push encrypts the compressed stream to the
// task's recipients (public keys), so the store holds only ciphertext; a
// pull decrypts with the identities of its worker (--age-identity), which
// never travel in a task or a workflow.

// ageRecipients parses the task's encrypt_to (validated where the task
// entered).
func ageRecipients(t config.Task) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, s := range t.EncryptTo {
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, permanent(ErrInvalidTask, fmt.Errorf("encrypt_to %q: %w", s, err))
		}
		out = append(out, r)
	}
	return out, nil
}

// LoadAgeIdentities reads an age identity file (age-keygen's output: one
// AGE-SECRET-KEY-1... per line, # comments).
func LoadAgeIdentities(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("age identity file: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("age identity file %s: %w", path, err)
	}
	return ids, nil
}

// canOpen checks, before anything is restored, that this worker holds an
// identity for one of the recipients an encrypted dump names (enc nil: the
// dump is not encrypted).
func (a *Activities) canOpen(key string, enc *dump.Encrypted) error {
	if enc == nil {
		return nil
	}
	var mine []string
	for _, id := range a.cfg.AgeIdentities {
		x, ok := id.(*age.X25519Identity)
		if !ok {
			continue
		}
		fp := dump.Fingerprint(x.Recipient().String())
		mine = append(mine, fp)
		for _, r := range enc.Recipients {
			if r == fp {
				return nil
			}
		}
	}
	have := "none (start the worker with --age-identity FILE)"
	if len(mine) > 0 {
		have = strings.Join(mine, ", ")
	}
	return permanent(ErrNoIdentity, fmt.Errorf("dump %s is encrypted to %d recipient(s) (fingerprints %s), and this worker's age identities are %s; nothing was restored, the live database is untouched",
		key, len(enc.Recipients), strings.Join(enc.Recipients, ", "), have))
}
