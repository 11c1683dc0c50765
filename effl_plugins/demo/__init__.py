"""``effl demo``: every stage on the embedded digits with 100 labels (supervised baseline, fine-tuning,
knowledge distillation, pseudo-labelling, Noisy Student, FixMatch), run through the registered strategies;
a table, ``report.json`` and ``accuracy.png``."""
