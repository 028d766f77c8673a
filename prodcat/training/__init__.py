"""Training encoders: the shared Trainer setup, fine-tuning, domain adaptation, the length-bucket sampler, data-parallel launch."""
