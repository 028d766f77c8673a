"""Unsupervised domain adaptation of the base encoder on product texts, before fine-tuning (param `adapt.method`).

The corpus is the train split's texts plus the catalog's unlabelled rows (preprocess's
`unlabelled.parquet`, which already holds no text of a validation or test row); test rows never reach it.

- `tsdae`: sentence-transformers' denoising auto-encoder objective (DenoisingAutoEncoderLoss): the encoder
  embeds a text with most of its words deleted, a BERT decoder tied to the encoder reconstructs the
  text from that one vector. The decoder's cross-attention and LM head are fresh weights.
- `mlm`: masked-language-model training of the transformer inside the encoder (transformers' Trainer).
  The MLM head is freshly initialised (all-MiniLM-L6-v2 ships without one) over the encoder's own
  BertModel, so the encoder's pooling and normalisation are untouched and kept.

Both share fine-tuning's Trainer settings (prodcat.training.trainer: bf16 where the hardware has it, one
checkpoint per epoch), its resumption under a run fingerprint (prodcat.training.resume), the DVCLive loss
curve and the per-epoch validation centroid accuracy (prodcat.training.curves). The result is a
sentence-transformers folder that `finetune` starts from (prodcat.encoders.load.starting_encoder).
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path

import numpy as np
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import DenoisingAutoEncoderLoss
from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments

from prodcat.core.params import AdaptParams, EncoderParams
from prodcat.encoders.flops import token_lengths
from prodcat.training.curves import REFERENCE_ROWS, LiveMetrics, live_curves, sample
from prodcat.training.resume import DecoderCheckpoint, LossHeadCheckpoint, head_written, resumable_checkpoint
from prodcat.training.sampler import LengthBucketBatchSampler
from prodcat.training.trainer import LabelledTexts, TrainingSummary, train_and_summarise, trainer_arguments


def adaptation_corpus(train_texts: list[str], unlabelled_texts: list[str], max_texts: int | None, seed: int) -> list[str]:
    """Train texts then unlabelled texts, blanks dropped, each text once; a seeded sample of `max_texts` if set."""
    corpus = list(dict.fromkeys(text for text in [*train_texts, *unlabelled_texts] if text.strip()))
    if max_texts is None or len(corpus) <= max_texts:
        return corpus
    picked = np.sort(np.random.default_rng(seed).choice(len(corpus), size=max_texts, replace=False))
    return [corpus[i] for i in picked]


def corpus_digest(texts: list[str]) -> str:
    """sha256 of the corpus in order: metrics/adapt.json records it, so what adapt trained on can be checked."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def adapt_fingerprint(corpus: list[str], encoder: EncoderParams, adapt: AdaptParams) -> str:
    """Hash of everything that shapes the adapted weights: a checkpoint is resumable only under the same one."""
    settings = json.dumps([encoder.model_dump(), adapt.model_dump()], sort_keys=True)
    return hashlib.sha256(f"{settings}\n{corpus_digest(corpus)}".encode()).hexdigest()


def delete_words(texts: list[str], ratio: float, seed: int) -> list[str]:
    """TSDAE's noise: each whitespace-separated word deleted with probability `ratio`, at least one kept; seeded."""
    rng = np.random.default_rng(seed)
    noisy = []
    for text in texts:
        words = text.split()
        keep = rng.random(len(words)) >= ratio
        if words and not keep.any():
            keep[rng.integers(len(words))] = True
        noisy.append(" ".join(word for word, kept in zip(words, keep, strict=True) if kept))
    return noisy


def tsdae_trainer(
    model: SentenceTransformer, corpus: list[str], params: AdaptParams, settings: dict, callbacks: list[TrainerCallback]
) -> tuple[Trainer, LossHeadCheckpoint | None]:
    """SentenceTransformerTrainer on (noisy, original) pairs; batches of similar token length as in finetune."""
    loss = DenoisingAutoEncoderLoss(model, tie_encoder_decoder=True)  # the decoder is read from the encoder's own folder
    dataset = Dataset.from_dict({"noisy": delete_words(corpus, params.deletion_ratio, params.seed), "text": corpus})
    assert model.max_seq_length is not None  # load_encoder sets it
    sampler = partial(LengthBucketBatchSampler, lengths=token_lengths(model.tokenizer, corpus, model.max_seq_length))
    arguments = SentenceTransformerTrainingArguments(**settings, batch_sampler=sampler)
    decoder = DecoderCheckpoint(loss)
    trainer = SentenceTransformerTrainer(model=model, args=arguments, train_dataset=dataset, loss=loss, callbacks=[decoder, *callbacks])
    return trainer, decoder


def mlm_trainer(
    model: SentenceTransformer, corpus: list[str], params: AdaptParams, settings: dict, callbacks: list[TrainerCallback]
) -> tuple[Trainer, LossHeadCheckpoint | None]:
    """transformers' Trainer on a masked-LM head (fresh) over the encoder's own transformer, which it trains in place."""
    encoder = model.transformers_model
    assert encoder is not None  # a transformer-based encoder, as every base encoder is
    masked_lm = AutoModelForMaskedLM.from_config(encoder.config)
    setattr(masked_lm, masked_lm.base_model_prefix, encoder)  # share, not copy: the SentenceTransformer sees every step
    masked_lm.tie_weights()  # the LM head's output matrix is the encoder's word embeddings again
    tokens = model.tokenizer(corpus, truncation=True, max_length=model.max_seq_length)
    dataset = Dataset.from_dict({"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]})
    collator = DataCollatorForLanguageModeling(model.tokenizer, mlm_probability=params.mlm_probability)  # global RNG: restored on resume
    arguments = TrainingArguments(**settings, train_sampling_strategy="group_by_length")
    return Trainer(model=masked_lm, args=arguments, train_dataset=dataset, data_collator=collator, callbacks=callbacks), None


TRAINERS = {"tsdae": tsdae_trainer, "mlm": mlm_trainer}


def adapt_encoder(
    model: SentenceTransformer,
    corpus: list[str],
    params: AdaptParams,
    precision: str,
    checkpoints: Path,
    fingerprint: str,
    curve: tuple[LabelledTexts, LabelledTexts] | None = None,
    live_dir: Path | None = None,
) -> TrainingSummary:
    """Adapt `model` in place on `corpus` with `params.method`; one checkpoint per epoch under `checkpoints`.

    With `live_dir`, the loss per step and, with `curve` (labelled train, validation), the validation
    centroid accuracy per epoch are logged there with DVCLive: does adaptation alone separate classes better?
    """
    device = str(model.device)
    # A TSDAE checkpoint is complete once DecoderCheckpoint wrote the decoder into it (MLM's Trainer saves all it needs).
    resume_from = resumable_checkpoint(checkpoints, fingerprint, lambda checkpoint: params.method != "tsdae" or head_written(checkpoint))
    with live_curves(live_dir, resumed=resume_from is not None) as live:
        reference, validation = (sample(curve[0], REFERENCE_ROWS, params.seed), curve[1]) if curve else (LabelledTexts([], []), None)
        callbacks: list[TrainerCallback] = [LiveMetrics(live, model, reference, validation, precision)] if live else []
        settings = trainer_arguments(params, checkpoints, precision, device, warmup=0.1, fused_optimizer=True)
        trainer, extra_state = TRAINERS[params.method](model, corpus, params, settings, callbacks)
        if resume_from and extra_state:
            extra_state.restore(resume_from)
        # adaptation runs as one process (finetune.processes is fine-tuning's)
        return train_and_summarise(
            trainer, f"adapting ({params.method})", len(corpus), params.epochs, resume_from, device=device, precision=precision
        )
