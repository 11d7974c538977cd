package activities

// Error types: the stable type strings of the non-retryable errors the
// steps fail with. Workflows, tests and operators (in the Temporal UI)
// match on them.
const (
	// ErrInvalidTask: the task asks for something this worker cannot do.
	ErrInvalidTask = "InvalidTask"
	// ErrInvalidInput: a step's input is not what the workflow sends.
	ErrInvalidInput = "InvalidInput"
	// ErrEngineFailed: the database tool refused the work for good.
	ErrEngineFailed = "EngineFailed"
	// ErrStoreRefused: the store refused (no bucket, access denied).
	ErrStoreRefused = "StoreRefused"
	// ErrNoDump: no complete dump matches, or the one asked for is gone.
	ErrNoDump = "NoDump"
	// ErrWrongDump: the dump is of another engine or database.
	ErrWrongDump = "WrongDump"
	// ErrBadManifest: a manifest that cannot be read as one.
	ErrBadManifest = "BadManifest"
	// ErrCorruptDump: stored bytes that do not match their manifest.
	ErrCorruptDump = "CorruptDump"
	// ErrDumpFileMissing: a file an earlier step left on this host is gone.
	ErrDumpFileMissing = "DumpFileMissing"
	// ErrNoSpace: the temp disk cannot hold the dump.
	ErrNoSpace = "NoSpace"
	// ErrNoIdentity: an encrypted dump this worker has no key for.
	ErrNoIdentity = "NoIdentity"
	// ErrCountMismatch: the restored copy does not hold what the dump did.
	ErrCountMismatch = "CountMismatch"
	// ErrNotSanitised: a pull that requires sanitised dumps found none.
	ErrNotSanitised = "NotSanitised"
	// ErrSanitiseFailed: the rule set could not be applied or verified.
	ErrSanitiseFailed = "SanitiseFailed"
	// ErrCheckFailed: a restore drill's check found nothing (or failed).
	ErrCheckFailed = "CheckFailed"
	// ErrHookMissing, ErrHookFailed: a before or after hook.
	ErrHookMissing = "HookMissing"
	ErrHookFailed  = "HookFailed"
)
