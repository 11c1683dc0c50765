"""Self-training: pseudo-labelling, Noisy Student, FixMatch, Mean Teacher and the label store."""
