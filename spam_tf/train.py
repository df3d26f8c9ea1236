"""f1 / f2 of Algorithm 1: train a TF-Agents agent on one env, from scratch or a start point.

One call of `train_eval` is one stage of one seed. Each iteration collects
about `batch_steps` env steps of complete episodes (within half an episode;
see collect.py), takes one gradient step, and evaluates the greedy policy over
`eval_episodes` episodes.

Two returns per iteration i (the policy after i gradient steps):
  eval_returns             greedy: the mean of `eval_episodes` greedy episodes;
  stochastic_eval_returns  the stochastic policy as it acts: the mean return of
                           the episodes that iteration i + 1 collects with it
                           (independent reset seeds, at least `batch_steps`
                           steps of them, no extra env steps), and for the last
                           iteration `eval_episodes` episodes run for it.

Outputs (run_dir):      checkpoints/ (tf.train.CheckpointManager + history),
                        policy_weights.npz, saved_model/ (PolicySaver),
                        result.json (written last: its presence means done).
TensorBoard (log_dir):  Eval/AverageReturn, Eval/AverageEpisodeLength,
                        Eval/StochasticAverageReturn,
                        Train/AverageReturn, Train/AverageEpisodeLength,
                        Train/Loss, Perf/EnvStepsPerSecond, Perf/*Seconds,
                        Weights/Start, Weights/Final (histograms).
"""
import contextlib
import inspect
import os
import shutil
import time

from absl import logging
import gin
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api
from tf_agents.policies import policy_saver

from spam_tf import agents
from spam_tf import collect
from spam_tf import envs as envs_lib
from spam_tf import files
from spam_tf import metrics
from spam_tf import policy as policy_lib
from spam_tf import progress as progress_lib
from spam_tf import weights as weights_lib

RESULT_FILE = progress_lib.RESULT_FILE  # its presence means the stage is done
WEIGHTS_FILE = "policy_weights.npz"  # start, snapshots along training, final


class TrainingDiverged(RuntimeError):
  """The loss became NaN or infinite; the last good checkpoint is kept."""


class CorruptCheckpoint(RuntimeError):
  """A checkpoint that cannot be restored (message says what to delete)."""


def seed_everything(seed: int):
  """Seeds Python, numpy and TensorFlow and makes TF ops deterministic."""
  tf.keras.utils.set_random_seed(seed)  # random, numpy and tf in one call
  tf.config.experimental.enable_op_determinism()


def make_train_fn(agent):
  """agent.train as one tf.function for any number of [1, T] time steps."""
  signature = tf.nest.map_structure(
      lambda s: tf.TensorSpec([None, None] + s.shape.as_list(), s.dtype),
      agent.collect_data_spec)
  # autograph=False: the traced code has no data-dependent Python control flow,
  # and skipping autograph cuts the first trace from about 10 s to about 1 s.
  return tf.function(lambda experience: agent.train(experience).loss,
                     input_signature=[signature], autograph=False)


def numpy_policy(actor_net, action_spec):
  discrete = bool(np.issubdtype(action_spec.dtype, np.integer))
  return policy_lib.NumpyPolicy(
      weights_lib.get(actor_net), actor_net.activation_name, discrete,
      None if discrete else np.asarray(action_spec.minimum, np.float32),
      None if discrete else np.asarray(action_spec.maximum, np.float32))


def episode_stats(episodes):
  returns = [ep.total_return for ep in episodes]
  lengths = [ep.length for ep in episodes]
  return float(np.mean(returns)), float(np.mean(lengths)), int(np.sum(lengths))


def export_policy(agent, saved_model_dir):
  """PolicySaver export of the greedy policy (tmp dir, then rename)."""
  tmp_dir = saved_model_dir + ".tmp"
  if os.path.exists(tmp_dir):  # left by a run killed during export
    shutil.rmtree(tmp_dir)
  with files.tf_writes(f"the SavedModel {tmp_dir}"):
    policy_saver.PolicySaver(agent.policy, batch_size=None).save(tmp_dir)
  files.replace_dir(tmp_dir, saved_model_dir)


def start_envs(batch_steps, mean_episode_length, num_envs):
  """How many envs to start: batch_steps / the last iteration's mean episode length
  (all num_envs before the first iteration), between 1 and num_envs."""
  if not mean_episode_length:
    return num_envs
  return int(min(num_envs, max(1, round(batch_steps / mean_episode_length))))


def _convergence_threshold(env, convergence_return):
  if convergence_return is not None:
    return float(convergence_return)
  # The paper's criterion is the task's maximum return; for envs paying at most
  # 1 per step (CartPole, InvertedPendulum) that is the episode step limit.
  if env.spec.max_episode_steps is None:
    raise ValueError(f"{env.spec.id} has no step limit: set train_eval.convergence_return")
  return float(env.spec.max_episode_steps)


def _new_history():
  """What a stage accumulates; saved with every checkpoint so a resume continues it."""
  return {"eval_iterations": [0], "eval_returns": [], "train_returns": [], "losses": [],
          "env_steps": 0, "steps_per_iteration": [], "mean_episode_length": None,
          "iteration_seconds": [],
          "seconds": {"collect": 0.0, "train": 0.0, "eval": 0.0}}


def _train_step(train_fn, experience, agent, where, checkpoint_dir):
  """One gradient step; a NaN or infinite loss or weight raises TrainingDiverged.

  (A finite loss can still step weights to infinity, the actor's or a value
  network's; caught here, before the next collection runs the policy on them.)
  """
  try:
    loss = float(train_fn(experience))
  except tf.errors.InvalidArgumentError:  # the agent's own check_numerics fired
    loss = float("nan")
  weights_finite = all(np.isfinite(v.numpy()).all() for v in agent.trainable_variables)
  if not (np.isfinite(loss) and weights_finite):
    raise TrainingDiverged(f"{where}: {'loss' if weights_finite else 'weights'} became NaN or "
                           f"infinite; last good checkpoint kept in {checkpoint_dir}")
  return loss


def _write_scalars(writer, step, scalars):
  with files.tf_writes("TensorBoard events"), writer.as_default(step=step):
    for tag, value in scalars.items():
      tf.summary.scalar(tag, value)


def _write_progress(run_dir, iterations, history, iteration):
  """progress.json: what the parent's progress display shows (not needed to resume)."""
  files.write_json(os.path.join(run_dir, progress_lib.PROGRESS_FILE), {
      "iteration": iteration, "iterations": iterations,
      "eval_return": history["eval_returns"][-1] if history["eval_returns"] else None,
      "train_return": history["train_returns"][-1] if history["train_returns"] else None,
  }, durable=False)


COUNT_PARAMETERS = ("iterations", "batch_steps", "num_envs", "eval_episodes", "eval_interval",
                    "checkpoint_interval")


def _is_count(value):
  return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_counts(weight_snapshots=(), **counts):
  for name, value in counts.items():
    if not _is_count(value):
      raise ValueError(f"train_eval.{name} must be a positive integer, got {value!r}")
  if not isinstance(weight_snapshots, (tuple, list)) or not all(map(_is_count, weight_snapshots)):
    raise ValueError(f"train_eval.weight_snapshots must be a list of positive iterations, "
                     f"got {weight_snapshots!r}")


def configured(scope=None):
  """train_eval's keyword arguments as gin sets them in `scope` (defaults filled in)."""
  defaults = {name: p.default for name, p in inspect.signature(train_eval).parameters.items()
              if p.default is not inspect.Parameter.empty}
  with (gin.config_scope(scope) if scope else contextlib.nullcontext()):
    return {**defaults, **gin.get_bindings("train_eval")}


def check_config(scope=None):
  """Raises ValueError now, in the parent, for counts a stage would refuse later."""
  config = configured(scope)
  _check_counts(config["weight_snapshots"], **{name: config[name] for name in COUNT_PARAMETERS})


class _Progress:
  """Checkpoint + history of eval returns, restored together on resume."""

  def __init__(self, run_dir, checkpoint, keep=2):
    self.dir = os.path.join(run_dir, "checkpoints")
    self.manager = tf.train.CheckpointManager(checkpoint, self.dir, max_to_keep=keep)

  def history_path(self, iteration):
    return os.path.join(self.dir, f"history-{iteration}.json")

  def restore(self):
    """Returns the saved history dict, or None when starting fresh."""
    latest = self.manager.latest_checkpoint
    if latest is None:
      return None
    iteration = int(latest.rsplit("-", 1)[1])
    path = self.history_path(iteration)
    if not os.path.exists(path):
      raise RuntimeError(f"checkpoint {latest} has no {path}: delete {self.dir} to restart")
    try:
      self.manager.checkpoint.restore(latest).assert_existing_objects_matched()
      return files.read_json(path)
    except Exception as e:  # pylint: disable=broad-except  (TF raises many types here)
      raise CorruptCheckpoint(f"checkpoint {latest} is unreadable ({type(e).__name__}); "
                              f"delete {self.dir} to restart this stage") from None

  def save(self, iteration, history):
    # History first: a checkpoint whose history is missing is never the latest one.
    files.write_json(self.history_path(iteration), history)
    with files.tf_writes(f"a checkpoint in {self.dir}"):
      self.manager.save(checkpoint_number=iteration)
    kept = {int(p.rsplit("-", 1)[1]) for p in self.manager.checkpoints}
    for name in os.listdir(self.dir):
      if name.startswith("history-") and int(name[8:-5]) not in kept:
        os.remove(os.path.join(self.dir, name))


@gin.configurable(denylist=["env_id", "run_dir", "log_dir", "seed", "start_fn", "label", "hparams"])
def train_eval(env_id, run_dir, log_dir, seed, start_fn=None, label="", hparams=None,
               iterations=100, batch_steps=5000, num_envs=8, eval_episodes=5,
               eval_interval=1, checkpoint_interval=10, convergence_return=None,
               weight_snapshots=(1, 2, 5, 10, 20, 50)):
  """Trains one agent; returns the result dict (also written to run_dir/result.json).

  weight_snapshots: iterations after which the actor's weights are kept in
    policy_weights.npz (beside 'start' and 'final'), so metrics of the weights,
    such as the sparsity ratio, can be measured along training.

  hparams: None, or {name: str/int/float} logged through TensorBoard's HParams plugin
    (e.g. method, seed, source, target) so runs can be filtered there.
  start_fn: None for TF-Agents' random initialisation, or a function
    (discrete, fresh actor arrays) -> actor arrays of the start point (SPAM's
    M_SPAM); it gets the seeded fresh initialisation, so parts it does not fill
    match the scratch baseline of the same seed.
  Returns dict with eval_iterations [E], eval_returns [E] (iteration 0 is the
  start point), train_returns [iterations], iterations_to_convergence,
  final_eval_return, timings, and paths of the saved weights and SavedModel.
  """
  _check_counts(iterations=iterations, batch_steps=batch_steps, num_envs=num_envs,
                eval_episodes=eval_episodes, eval_interval=eval_interval,
                checkpoint_interval=checkpoint_interval, weight_snapshots=weight_snapshots)
  result_path = os.path.join(run_dir, RESULT_FILE)
  if os.path.exists(result_path):
    return files.read_json(result_path)
  os.makedirs(run_dir, exist_ok=True)
  seed_everything(seed)
  train_envs = collect.EpisodeCollector(env_id, num_envs)
  threshold = _convergence_threshold(train_envs.envs[0], convergence_return)
  eval_envs = collect.EpisodeCollector(env_id, eval_episodes)
  obs_spec = envs_lib.observation_spec(train_envs.envs[0])
  act_spec = envs_lib.action_spec(train_envs.envs[0])
  agent, actor_net = agents.make_agent(obs_spec, act_spec)
  discrete = np.issubdtype(act_spec.dtype, np.integer)
  if start_fn is not None:
    weights_lib.assign(actor_net, start_fn(discrete, weights_lib.get(actor_net)))
  train_fn = make_train_fn(agent)
  records_info = agent.collect_data_spec.policy_info != ()  # PPO: distribution parameters
  iteration_var = tf.Variable(0, dtype=tf.int64)
  progress = _Progress(run_dir, tf.train.Checkpoint(agent=agent, iteration=iteration_var))
  with files.tf_writes(f"TensorBoard events in {log_dir}"):
    writer = tf.summary.create_file_writer(log_dir)

  def evaluate(iteration):
    greedy = numpy_policy(actor_net, act_spec).greedy
    episodes = eval_envs.collect(greedy, 0, collect.derive_seed(seed, 2, iteration))
    return episode_stats(episodes)

  def evaluate_stochastic(iteration):
    sampler = numpy_policy(actor_net, act_spec)
    rng = np.random.default_rng(collect.derive_seed(seed, 4, iteration))
    episodes = eval_envs.collect(lambda obs: sampler.sample(obs, rng), 0,
                                 collect.derive_seed(seed, 3, iteration))
    return episode_stats(episodes)[0]

  history = progress.restore()
  if history is None:
    start_weights = weights_lib.flatten(weights_lib.get(actor_net))
    _save_weights(run_dir, start=start_weights)
    history = _new_history()
    eval_return, eval_length, _ = evaluate(0)
    history["eval_returns"].append(eval_return)
    _write_scalars(writer, 0, {"Eval/AverageReturn": eval_return,
                               "Eval/AverageEpisodeLength": eval_length})
    with files.tf_writes("TensorBoard events"), writer.as_default(step=0):
      tf.summary.histogram("Weights/Start", start_weights)
      if hparams:  # TensorBoard's HParams dashboard filters runs by these
        hparams_api.hparams(hparams)
    logging.info("[%s] start: eval return %.1f", label, eval_return)
  else:
    logging.info("[%s] resuming from the checkpoint of iteration %d", label,
                 int(iteration_var.numpy()))
    history.setdefault("resumed_from", []).append(int(iteration_var.numpy()))
  start_iteration = int(iteration_var.numpy())
  _write_progress(run_dir, iterations, history, start_iteration)
  first_iteration_done = None  # wall clock (epoch s) of this process's first iteration

  for iteration in range(start_iteration + 1, iterations + 1):
    t0 = time.perf_counter()
    sampler = numpy_policy(actor_net, act_spec)
    rng = np.random.default_rng(collect.derive_seed(seed, 1, iteration))
    act = sampler.sample_with_info if records_info else sampler.sample
    episodes = train_envs.collect(lambda obs: act(obs, rng), batch_steps,
                                  collect.derive_seed(seed, 0, iteration),
                                  start_envs(batch_steps, history["mean_episode_length"], num_envs))
    t1 = time.perf_counter()
    loss = _train_step(train_fn, collect.to_trajectory(episodes, agent.collect_data_spec.action),
                       agent, f"{label}: iteration {iteration}", progress.dir)
    t2 = time.perf_counter()
    train_return, train_length, steps = episode_stats(episodes)
    history["train_returns"].append(train_return)
    history["losses"].append(loss)
    history["env_steps"] += steps
    history["steps_per_iteration"].append(steps)
    history["mean_episode_length"] = train_length
    evaluated = iteration % eval_interval == 0 or iteration == iterations
    if evaluated:
      eval_return, eval_length, _ = evaluate(iteration)
      history["eval_iterations"].append(iteration)
      history["eval_returns"].append(eval_return)
    t3 = time.perf_counter()
    for key, seconds in (("collect", t1 - t0), ("train", t2 - t1), ("eval", t3 - t2)):
      history["seconds"][key] += seconds
    history["iteration_seconds"].append([t1 - t0, t2 - t1, t3 - t2])
    scalars = {
        "Train/AverageReturn": train_return, "Train/AverageEpisodeLength": train_length,
        "Train/Loss": loss, "Train/EnvSteps": history["env_steps"],
        "Train/EnvStepsPerIteration": steps,
        "Perf/EnvStepsPerSecond": steps / (t1 - t0), "Perf/CollectSeconds": t1 - t0,
        "Perf/TrainSeconds": t2 - t1, "Perf/EvalSeconds": t3 - t2,
        "Weights/ZeroFraction": metrics.zero_ratio(weights_lib.flatten(weights_lib.get(actor_net))),
    }
    if evaluated:
      scalars.update({"Eval/AverageReturn": eval_return, "Eval/AverageEpisodeLength": eval_length})
    _write_scalars(writer, iteration, scalars)
    # This iteration's episodes were the previous policy's stochastic evaluation.
    _write_scalars(writer, iteration - 1, {"Eval/StochasticAverageReturn": train_return})
    logging.info("[%s] it %d/%d  train %.1f  eval %s  loss %.3f  %d steps/s", label,
                 iteration, iterations, train_return,
                 f"{history['eval_returns'][-1]:.1f}" if evaluated else "-", loss,
                 steps / (t1 - t0))
    if iteration in weight_snapshots and iteration < iterations:
      _save_weights(run_dir, **{f"iteration_{iteration}": weights_lib.flatten(weights_lib.get(actor_net))})
    iteration_var.assign(iteration)
    _write_progress(run_dir, iterations, history, iteration)
    first_iteration_done = first_iteration_done or time.time()
    if iteration % checkpoint_interval == 0 and iteration < iterations:
      progress.save(iteration, history)

  stochastic_eval_returns = history["train_returns"] + [evaluate_stochastic(iterations)]
  _write_scalars(writer, iterations, {"Eval/StochasticAverageReturn": stochastic_eval_returns[-1]})
  final_weights = weights_lib.flatten(weights_lib.get(actor_net))
  with files.tf_writes("TensorBoard events"), writer.as_default(step=iterations):
    tf.summary.histogram("Weights/Final", final_weights)
    writer.flush()
  train_envs.close()
  eval_envs.close()
  _save_weights(run_dir, final=final_weights)
  export_policy(agent, os.path.join(run_dir, "saved_model"))
  result = {
      "env_id": env_id, "seed": seed, "iterations": iterations, "discrete": bool(discrete),
      "convergence_return": threshold,
      "iterations_to_convergence": metrics.first_reaching(
          history["eval_iterations"], history["eval_returns"], threshold),
      "final_eval_return": history["eval_returns"][-1],
      "eval_iterations": history["eval_iterations"],
      "eval_returns": history["eval_returns"],
      "stochastic_eval_returns": stochastic_eval_returns,  # [iterations + 1], see the module doc
      "train_returns": history["train_returns"],
      "losses": history["losses"],
      "env_steps": history["env_steps"],
      "steps_per_iteration": history["steps_per_iteration"],
      "seconds": history["seconds"],
      "iteration_seconds": history["iteration_seconds"],  # [collect, train, eval] per iteration
      "resumed_from": history.get("resumed_from", []),
      "first_iteration_done": first_iteration_done,
      "weight_shapes": [list(np.shape(w)) for w in weights_lib.get(actor_net)],
      "policy_weights": "policy_weights.npz",
      "saved_model": "saved_model",
  }
  files.write_json(result_path, result)
  return result


def _save_weights(run_dir, **vectors):
  """Adds (or replaces) named weight vectors in run_dir/policy_weights.npz."""
  path = os.path.join(run_dir, WEIGHTS_FILE)
  saved = {}
  if os.path.exists(path):
    with np.load(path) as old:
      saved = {name: old[name] for name in old.files}
  files.write_npz(path, **{**saved, **vectors})


def load_weights(run_dir, which="final"):
  """The stage's 'start' or 'final' actor weight vector [d] from policy_weights.npz."""
  with np.load(os.path.join(run_dir, WEIGHTS_FILE)) as saved:
    return saved[which]


def weights_along_training(run_dir):
  """{iteration: actor weight vector [d]}: the start (0), the kept snapshots and the
  final weights (at the run's last iteration)."""
  iterations = files.read_json(os.path.join(run_dir, RESULT_FILE))["iterations"]
  with np.load(os.path.join(run_dir, WEIGHTS_FILE)) as saved:
    along = {int(name.split("_")[1]): saved[name] for name in saved.files
             if name.startswith("iteration_")}
    along.update({0: saved["start"], iterations: saved["final"]})
  return dict(sorted(along.items()))
