"""Sample-quality and model-comparison metrics (docs/algorithms.md section 9; docs/evaluation.md).

Every function here takes NumPy arrays (images in [0, 1], features, logits) or
a score function, never a model config or flags:

- `fid`: statistics (mu, Sigma) of features and the Frechet distance between two.
- `inception_score`: the Inception Score of class logits.
- `inception`: Inception-v3 (Keras, weights from a local file) pool features and logits.
- `kid`: Kernel Inception Distance, the unbiased polynomial-kernel MMD^2.
- `precision_recall`: k-NN precision and recall, density and coverage of a generated set.
- `feature_classifier`: the small offline classifier whose features stand in for Inception's.
- `heldout`: the denoising score-matching loss on held-out data, per noise level.
- `neighbours`: nearest training images of generated samples (pixel L2) and their figure.
- `report`: the Markdown report written beside `tfncsn evaluate`'s JSON.

Submodules are imported on use: the NumPy-only ones do not pull in TensorFlow.
"""
