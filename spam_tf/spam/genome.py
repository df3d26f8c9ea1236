"""Beyond the paper: a genome autoencoder trained on a zoo of source experts.

The paper's g sees one vector, w(M*), so it can only memorise it. Here one
autoencoder learns from a zoo: the source task's experts over many seeds, each
with the weights it kept along training (spam_tf.rl.train's weight snapshots, so
the zoo holds policies of every quality). Never a network trained on the target.
The zoo's seeds are disjoint from the experiments' seeds, so every experiment's
M* is an expert the autoencoder never saw. The zoo's last seeds are kept out of
training as validation experts: they stop it (so their error is the best over
epochs, while M*'s error is untouched by training and selection).

What weight spaces need (Schürholt et al., Hyper-Representations, 2021/2022;
Ainsworth et al., Git Re-Basin, 2023): the experts' hidden units put in one
order (weight matching, spam_tf/spam/alignment.py: experts from different
initialisations hold alike features in different orders); each weight array
(kernel or bias) standardised by its mean and standard deviation over the zoo
(so the loss weighs arrays alike, not by their size or scale); a linear output
(a ReLU output unit that stops learning returns 0 for every input: the paper's
g zeroes a third of M*'s positive weights that way). The code size is the knob:
d / code size is the compression.

Start points, per experiment seed (spam_tf.spam.start_points):
  genome         decode(encode(M*))
  genome_mean    decode(the mean code of the zoo's best policies)
  genome_sample  decode(a code drawn around that mean, with the best codes' spread)
and their control with no autoencoder:
  zoo_mean       the mean weights of the zoo's best networks (the same ones, in the
                 same hidden-unit order), shared by every code size
"""
import inspect
import math
import os

import gin
import numpy as np
import tensorflow as tf

from spam_tf import files
from spam_tf.rl import collect
from spam_tf.rl import snapshots
from spam_tf.rl import train
from spam_tf.spam import alignment

STARTS_FILE = "starts.npz"  # {method: start vector [d]}
CODES_FILE = "codes.npz"    # the zoo's codes [N, c], their returns [N], the best codes, M*'s code
GENOME_METHODS = ("genome", "genome_mean", "genome_sample")


def _is_int(value):
  return isinstance(value, int) and not isinstance(value, bool)


@gin.configurable
def zoo(first_seed=1000, size=20, held_out_fraction=0.2):
  """The zoo's expert seeds: (train seeds, held-out seeds). The held-out ones are the
  last ceil(size * held_out_fraction); first_seed keeps them apart from experiment seeds."""
  if not _is_int(first_seed) or first_seed < 0:
    raise ValueError(f"zoo.first_seed must be a non-negative integer, got {first_seed!r}")
  if not _is_int(size) or size < 2:
    raise ValueError(f"zoo.size must be an integer >= 2, got {size!r}")
  if not 0 < held_out_fraction < 1:
    raise ValueError(f"zoo.held_out_fraction must be in (0, 1), got {held_out_fraction!r}")
  seeds = list(range(first_seed, first_seed + size))
  held_out = min(size - 1, max(1, math.ceil(size * held_out_fraction)))
  return seeds[:-held_out], seeds[-held_out:]


def zoo_members(expert_dirs, reference=None, shapes=None):
  """Every weight vector the zoo's experts kept, with its greedy eval return.

  expert_dirs: finished expert run dirs. reference: None, or a weight vector [d]
  (layout `shapes`) to align each expert to: the hidden-unit order that matches
  the expert's final weights to it is applied to everything that expert kept.
  Returns (vectors [N, d] float32, returns [N], seeds [N], iterations [N]): one
  row per expert and kept iteration.
  """
  vectors, returns, seeds, iterations = [], [], [], []
  for run_dir in expert_dirs:
    result = files.read_json(os.path.join(run_dir, files.RESULT_FILE))
    return_at = dict(zip(result["eval_iterations"], result["eval_returns"]))
    along = snapshots.along_training(run_dir)
    if reference is not None:
      permutations = alignment.match(along[result["iterations"]], reference, shapes)
      along = {i: alignment.apply(v, permutations, shapes) for i, v in along.items()}
    for iteration, vector in along.items():
      if iteration in return_at:  # an iteration without an eval has no quality to rank by
        vectors.append(vector)
        returns.append(return_at[iteration])
        seeds.append(result["seed"])
        iterations.append(iteration)
  return (np.asarray(vectors, np.float32), np.asarray(returns, np.float64),
          np.asarray(seeds), np.asarray(iterations))


def layer_scales(vectors, shapes):
  """Per-entry (mean [d], std [d]) from each weight array's (each kernel's, each bias's)
  mean and standard deviation over all its entries in vectors [N, d]; a constant array
  gets std 1."""
  sizes = [int(np.prod(s)) for s in shapes]
  mean, std = np.empty(sum(sizes), np.float32), np.empty(sum(sizes), np.float32)
  start = 0
  for size in sizes:
    layer = vectors[:, start:start + size]
    mean[start:start + size] = layer.mean()
    std[start:start + size] = layer.std() if layer.std() > 0 else 1.0
    start += size
  return mean, std


@gin.configurable
def build_genome_autoencoder(dim, code_size=16, hidden_sizes=(256, 128), activation="elu"):
  """(autoencoder, encoder, decoder): [N, dim] -> [N, dim], -> [N, code_size], and back.
  The code and the output are linear: no output unit can die."""
  inputs = tf.keras.Input(shape=(dim,), name="weights")
  hidden = inputs
  for i, size in enumerate(hidden_sizes):
    hidden = tf.keras.layers.Dense(size, activation=activation, name=f"encoder_{i}")(hidden)
  code = tf.keras.layers.Dense(code_size, name="code")(hidden)
  encoder = tf.keras.Model(inputs, code, name="encoder")
  code_input = tf.keras.Input(shape=(code_size,), name="code")
  hidden = code_input
  for i, size in enumerate(reversed(hidden_sizes)):
    hidden = tf.keras.layers.Dense(size, activation=activation, name=f"decoder_{i}")(hidden)
  decoder = tf.keras.Model(code_input, tf.keras.layers.Dense(dim, name="reconstruction")(hidden),
                           name="decoder")
  return tf.keras.Model(inputs, decoder(encoder(inputs)), name="genome_autoencoder"), encoder, decoder


def dead_output_fraction(reconstructions, targets):
  """Fraction of output entries that do not move with the input although the target does.

  reconstructions, targets: [N, d]. An output is dead when its spread over the N
  inputs is under 1% of the target's spread there (a ReLU output stuck at 0 is one).
  """
  moving = targets.std(axis=0) > 0
  if not moving.any():
    return 0.0
  stuck = reconstructions.std(axis=0) < 0.01 * targets.std(axis=0)
  return float(np.mean(stuck[moving]))


def _relative_error(reconstructions, targets):
  """Mean over rows of ||reconstruction - target|| / ||target||. [N, d] each."""
  return float(np.mean(np.linalg.norm(reconstructions - targets, axis=1)
                       / np.maximum(np.linalg.norm(targets, axis=1), 1e-12)))


def best_rows(rows, returns, best_fraction):
  """The rows [k', ...] of the members whose eval return (returns [N]) is at least the
  k-th best's, k = ceil(N * best_fraction) (at least 2): ties all count, so no expert is
  favoured by its place in the zoo."""
  k = min(len(rows), max(2, math.ceil(len(rows) * best_fraction)))
  return rows[returns >= np.sort(returns)[::-1][k - 1]]


def _aligned_zoo(zoo_dirs, shapes, align):
  """(reference [d] or None, vectors [N, d], returns [N]): zoo_members of zoo_dirs, in the
  first expert's hidden-unit order (its final weights, the reference) when `align`."""
  reference = snapshots.load(zoo_dirs[0], "final") if align else None
  vectors, returns, _, _ = zoo_members(zoo_dirs, reference, shapes)
  return reference, vectors, returns


def zoo_mean(zoo_dirs, shapes, best_fraction=0.25, align=True):
  """The mean weights [d] of the zoo's best networks (best_rows of every network the
  experts in zoo_dirs kept), in the first expert's hidden-unit order when `align`:
  what genome_mean decodes to if the autoencoder adds nothing (the no-autoencoder
  control of the genome methods)."""
  _, vectors, returns = _aligned_zoo(zoo_dirs, shapes, align)
  return best_rows(vectors, returns, best_fraction).mean(axis=0).astype(np.float32)


@gin.configurable(denylist=["zoo_dirs", "held_out_dirs", "shapes", "expert", "run_dir", "log_dir", "seed",
                            "record"])
def train_genome(zoo_dirs, held_out_dirs, shapes, expert, run_dir, log_dir, seed, epochs=1000,
                 learning_rate=1e-3, batch_size=32, patience=100, best_fraction=0.25, align=True,
                 record=None):
  """Fits the genome autoencoder on the zoo and writes this seed's start points.

  zoo_dirs / held_out_dirs: expert run dirs it trains on / validates on;
  shapes: the actor's weight shapes; expert: w(M*) [d] of this seed's expert
  (never in the zoo). align: put every network's hidden units in the order of the
  first zoo expert's (spam_tf/spam/alignment.py) before encoding. Stops when the held-out
  loss has not improved for `patience` epochs and keeps the best weights. Writes
  starts.npz, codes.npz and result.json to run_dir; loss curves to TensorBoard.
  Returns the result dict.
  """
  result_path = os.path.join(run_dir, files.RESULT_FILE)
  if os.path.exists(result_path):
    return files.read_json(result_path)
  os.makedirs(run_dir, exist_ok=True)
  train.seed_everything(seed)
  reference, vectors, returns = _aligned_zoo(zoo_dirs, shapes, align)
  if align:  # M* in the zoo's unit order (the same function)
    expert = alignment.apply(expert, alignment.match(expert, reference, shapes), shapes)
  held_out, _, _, _ = zoo_members(held_out_dirs, reference, shapes)
  scale = layer_scales(vectors, shapes)
  encode, decode, curves = _fit(vectors, held_out, scale, epochs, learning_rate, batch_size, patience)
  codes, expert_code = encode(vectors), encode(expert[None])[0]
  rng = np.random.default_rng(collect.derive_seed(seed, 6))
  starts, best = genome_starts(decode, codes, returns, expert_code, best_fraction, rng)
  _write_curves(log_dir, *curves)
  # The codes, not the model (about 10 MB per seed and code size): enough to study the
  # code space and what the start points were decoded from.
  files.write_npz(os.path.join(run_dir, CODES_FILE), codes=codes, returns=returns, best=best,
                  expert=expert_code)
  files.write_npz(os.path.join(run_dir, STARTS_FILE), **{k: v.astype(np.float32) for k, v in starts.items()})
  result = _genome_result(vectors, held_out, expert, codes.shape[1], curves, encode, decode, starts)
  result.update({"best_members": int(len(best)), **(record or {})})
  files.write_json(result_path, result)
  return result


def genome_starts(decode, codes, returns, expert_code, best_fraction, rng):
  """This seed's genome start points and the best codes: ({method: vector [d]}, best [k, c]).

  decode: codes [n, c] -> vectors [n, d]; codes [N, c] of the zoo's networks with
  their returns [N]; expert_code [c] (M*'s); rng draws genome_sample's code from the
  best codes' mean and per-dimension spread.
  """
  best = best_rows(codes, returns, best_fraction)
  sample = best.mean(axis=0) + rng.normal(size=best.shape[1]) * best.std(axis=0)
  return {"genome": decode(expert_code[None])[0], "genome_mean": decode(best.mean(axis=0)[None])[0],
          "genome_sample": decode(sample[None])[0]}, best


def _fit(vectors, held_out, scale, epochs, learning_rate, batch_size, patience):
  """Trains the genome autoencoder on standardised vectors [N, d], stopped early on the
  held-out ones; returns (encode, decode, (losses, held_out_losses)) in weight units."""
  mean, std = scale
  model, encoder, decoder = build_genome_autoencoder(vectors.shape[1])
  model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss="mse")
  history = model.fit(
      (vectors - mean) / std, (vectors - mean) / std, epochs=epochs, batch_size=batch_size,
      verbose=0, validation_data=((held_out - mean) / std, (held_out - mean) / std),
      callbacks=[tf.keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)])
  losses, held_out_losses = history.history["loss"], history.history["val_loss"]
  if not np.all(np.isfinite(losses + held_out_losses)):
    raise FloatingPointError("genome autoencoder loss became non-finite: lower its learning_rate")

  def encode(rows):
    return encoder.predict((rows - mean) / std, verbose=0)

  def decode(codes):
    return decoder.predict(np.asarray(codes, np.float32), verbose=0) * std + mean

  return encode, decode, (losses, held_out_losses)


def _genome_result(vectors, held_out, expert, code_size, curves, encode, decode, starts):
  """result.json of a genome unit: the autoencoder's size, its curves and its errors."""
  losses, held_out_losses = curves
  reconstructions = decode(encode(vectors))
  return {
      "dim": int(vectors.shape[1]), "code_size": int(code_size),
      "compression_ratio": vectors.shape[1] / code_size,
      "zoo_members": int(len(vectors)), "held_out_members": int(len(held_out)),
      "epochs_run": len(losses), "best_epoch": int(np.argmin(held_out_losses)) + 1,  # counted from 1
      "loss_curve": [float(x) for x in losses], "held_out_loss_curve": [float(x) for x in held_out_losses],
      "train_relative_error": _relative_error(reconstructions, vectors),
      "held_out_relative_error": _relative_error(decode(encode(held_out)), held_out),
      # What guessing the zoo's mean weights for every held-out expert scores.
      "held_out_mean_guess_error": _relative_error(np.broadcast_to(vectors.mean(axis=0), held_out.shape), held_out),
      "expert_relative_error": _relative_error(starts["genome"][None], expert[None]),
      "dead_output_fraction": dead_output_fraction(reconstructions, vectors),
  }


def train_genome_settings():
  """train_genome's keyword arguments as gin sets them now (defaults, then bindings)."""
  config = {name: p.default for name, p in inspect.signature(train_genome).parameters.items()
            if p.default is not inspect.Parameter.empty}
  config.update(gin.get_bindings("train_genome"))
  return config


def zoo_mean_start(zoo_dirs, shapes):
  """zoo_mean of the zoo's training experts with train_genome's best_fraction and align:
  the start of the `zoo_mean` method, the networks genome_mean's best codes encode."""
  settings = train_genome_settings()
  return zoo_mean(zoo_dirs, shapes, settings["best_fraction"], settings["align"])


def check_config():
  """Raises ValueError now, in the parent, for zoo or train_genome settings a genome unit
  would refuse only after the zoo has trained."""
  zoo()
  config = train_genome_settings()
  for name in ("epochs", "batch_size", "patience"):
    if not _is_int(config[name]) or config[name] < 1:
      raise ValueError(f"train_genome.{name} must be a positive integer, got {config[name]!r}")
  for name, low, high in (("best_fraction", 0, 1), ("learning_rate", 0, math.inf)):
    value = config[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
      raise ValueError(f"train_genome.{name} must be a number in ({low}, {high}], got {value!r}")


def _write_curves(log_dir, losses, held_out_losses):
  with files.tf_writes(f"TensorBoard events in {log_dir}"):
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
      for epoch, (loss, held_out) in enumerate(zip(losses, held_out_losses)):
        tf.summary.scalar("Genome/TrainMSE", loss, step=epoch)
        tf.summary.scalar("Genome/HeldOutMSE", held_out, step=epoch)
    writer.flush()


def load_starts(run_dir):
  """{method: start vector [d]} of a finished genome unit."""
  with np.load(os.path.join(run_dir, STARTS_FILE)) as saved:
    return {name: saved[name] for name in saved.files}
