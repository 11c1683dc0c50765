"""Self-training: pseudo-labelling, Noisy Student, FixMatch, FlexMatch, FreeMatch, SoftMatch, UDA, Mean Teacher and
the label store."""
