package train

// StoreOptions tell the run store (peft/runstore) what to do with a
// finished run it finds for the same configuration.
type StoreOptions struct {
	// RetrainOnOtherBackend trains again when the stored run was trained on
	// another backend (a CPU run opened on a GPU machine, say) instead of
	// reusing it and saying so through Log.
	RetrainOnOtherBackend bool
}
