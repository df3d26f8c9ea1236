"""g of Algorithm 1: a Keras autoencoder over flattened policy weights.

Encoder d -> 256 -> 128 (the 128-dim code is the expert's "genome"), decoder
mirrored 128 -> 256 -> d, L2 (mean squared error) reconstruction loss.

The output activation decides what the reconstruction looks like:
  'relu' (default, paper-faithful): the decoder cannot output negatives, so
     the reconstruction is close to the expert with its negative weights
     zeroed, and about 60% of its entries are exactly 0 -- the paper's zero
     ratio (0.61-0.62) implies this.
  'linear': reconstructs the vector almost exactly and gives no zeros.
"""
import os

import gin
import numpy as np
import tensorflow as tf

from spam_tf import files
from spam_tf.spam import metrics


@gin.configurable
def build_autoencoder(dim, hidden_sizes=(256, 128), activation="relu", output_activation="relu"):
  """Returns (autoencoder, encoder): Keras models [N, dim] -> [N, dim] and -> [N, code]."""
  inputs = tf.keras.Input(shape=(dim,), name="weights")
  code = inputs
  for i, size in enumerate(hidden_sizes):
    code = tf.keras.layers.Dense(size, activation=activation, name=f"encoder_{i}")(code)
  decoded = code
  for i, size in enumerate(reversed(hidden_sizes[:-1])):
    decoded = tf.keras.layers.Dense(size, activation=activation, name=f"decoder_{i}")(decoded)
  outputs = tf.keras.layers.Dense(dim, activation=output_activation, name="reconstruction")(decoded)
  return (tf.keras.Model(inputs, outputs, name="autoencoder"),
          tf.keras.Model(inputs, code, name="encoder"))


@gin.configurable(denylist=["vectors", "run_dir", "log_dir", "seed", "record"])
def train_autoencoder(vectors, run_dir, log_dir, seed, epochs=1000, learning_rate=1e-3, record=None):
  """Fits g on the expert weight vectors and reconstructs them.

  vectors: [N, d] float32 (one row per expert; the paper uses N = 1).
  Writes autoencoder.keras, codes.npz (genome [N, code] and reconstruction
  [N, d]) and result.json to run_dir; the loss curve to TensorBoard
  (Autoencoder/ReconstructionMSE). Returns the result dict.
  """
  result_path = os.path.join(run_dir, "result.json")
  if os.path.exists(result_path):
    return files.read_json(result_path)
  os.makedirs(run_dir, exist_ok=True)
  tf.keras.utils.set_random_seed(seed)
  vectors = np.asarray(vectors, np.float32)
  model, encoder = build_autoencoder(vectors.shape[1])
  model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss="mse")
  history = model.fit(vectors, vectors, epochs=epochs, batch_size=len(vectors),
                      shuffle=False, verbose=0)
  losses = [float(x) for x in history.history["loss"]]
  if not np.isfinite(losses[-1]):
    raise FloatingPointError(f"autoencoder loss became {losses[-1]}: lower its learning_rate")
  reconstruction = model.predict(vectors, verbose=0)
  genome = encoder.predict(vectors, verbose=0)
  with files.tf_writes(f"TensorBoard events in {log_dir}"):
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
      for epoch, loss in enumerate(losses):
        tf.summary.scalar("Autoencoder/ReconstructionMSE", loss, step=epoch)
    writer.flush()
  save_model(model, os.path.join(run_dir, "autoencoder.keras"))
  files.write_npz(os.path.join(run_dir, "codes.npz"), genome=genome, reconstruction=reconstruction)
  result = {
      "num_vectors": int(len(vectors)), "dim": int(vectors.shape[1]),
      "code_dim": int(genome.shape[1]), "epochs": epochs,
      "initial_mse": losses[0], "reconstruction_mse": float(np.mean((reconstruction - vectors) ** 2)),
      "loss_curve": losses, "model": "autoencoder.keras", "codes": "codes.npz",
      "zero_ratio": metrics.zero_ratio(reconstruction[0]),
      **(record or {}),
  }
  files.write_json(result_path, result)
  return result


def save_model(model, path):
  """Saves the model's layers, without its optimizer (Adam's slots would triple the
  file), atomically."""
  def write(tmp):
    tf.keras.Model(model.inputs, model.outputs, name=model.name).save(tmp + ".keras")
    os.replace(tmp + ".keras", tmp)  # Keras insists on the suffix of the file it writes
  files.write_atomic(path, write)


def load_reconstruction(run_dir, row=0):
  """w(g(M*)) of expert `row`: float32 [d]."""
  with np.load(os.path.join(run_dir, "codes.npz")) as saved:
    return saved["reconstruction"][row]
