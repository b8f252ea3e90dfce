"""Flags of `tfncsn evaluate` (docs/evaluation.md). It also reads --workdir, --num_samples,
--seed, --output, --data_dir, --keep_every and the sampler flags of flags.py."""

from __future__ import annotations

from absl import flags

flags.DEFINE_list("eval_metrics", ["auto"], "evaluate: any of heldout, offline, inception, "
                  "neighbours; auto: all that apply to the dataset (inception only when its "
                  "weights are found). A metric named here that cannot run is an error.")
flags.DEFINE_string("inception_weights", None, "evaluate: Keras InceptionV3 ImageNet weights "
                    "with the top (inception_v3_weights_tf_dim_ordering_tf_kernels.h5) for FID/IS; "
                    "else $TFNCSN_INCEPTION_WEIGHTS, else Keras's copy in ~/.keras/models.")
flags.DEFINE_string("reference_stats", None, "evaluate: Inception statistics (.npz with mu, "
                    "sigma) to compute FID against, instead of the dataset's training split.")
flags.DEFINE_integer("reference_examples", 0, "evaluate: training images used for the reference "
                     "statistics and features (0: the whole training split).")
flags.DEFINE_string("cache_dir", None, "evaluate: where the offline classifier and Inception "
                    "reference statistics are kept (default $TFNCSN_CACHE_DIR, else "
                    "~/.cache/tfncsn).")
flags.DEFINE_string("samples", None, "evaluate: samples to evaluate (.npy, or .npz with "
                    "'samples' as `tfncsn sample` writes) instead of drawing --num_samples.")
flags.DEFINE_integer("eval_batch_size", 250, "evaluate: batch size of sampling and scoring.")
flags.DEFINE_integer("heldout_examples", 1000, "evaluate: test examples of the held-out DSM "
                     "loss (0: the whole test split); each is scored at every noise level.")
flags.DEFINE_integer("heldout_seed", 0, "evaluate: seed of the held-out loss's fixed noise.")
flags.DEFINE_integer("neighbours_k", 5, "evaluate: nearest training images shown per sample.")
flags.DEFINE_integer("precision_recall_k", 3, "evaluate: k of the k-NN precision and recall.")
