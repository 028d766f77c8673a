"""prodcat: fine-tune sentence-transformer encoders on product text and classify products."""
