"""Training encoders: the shared Trainer setup (trainer), resumption (resume), DVCLive curves (curves), the
fine-tuning objectives (losses), the length-bucket sampler (sampler), data-parallel processes (distributed),
and the two jobs, fine-tuning (finetune) and domain adaptation (adapt)."""
