"""f1 / f2 of Algorithm 1: train a TF-Agents agent on one env, from scratch or a start point.

One call of `train_eval` is one stage of one seed: a loop over iterations, each
of the same phases, in the manner of TF-Agents' train_eval examples:
  collect    about `batch_steps` env steps of complete episodes (within half
             an episode; see collect.py) with the stochastic policy;
  train      one gradient step on them;
  evaluate   the greedy policy over `eval_episodes` episodes;
  record     the iteration's numbers into the stage's history, TensorBoard and
             progress.json, the actor's weights after the kept iterations;
  checkpoint every `checkpoint_interval` iterations (agent + history), from
             which a killed stage resumes.

Two returns per iteration i (the policy after i gradient steps):
  eval_returns             greedy: the mean of `eval_episodes` greedy episodes;
  stochastic_eval_returns  the stochastic policy as it acts: the mean return of
                           the episodes that iteration i + 1 collects with it
                           (independent reset seeds, at least `batch_steps`
                           steps of them, no extra env steps), and for the last
                           iteration `eval_episodes` episodes run for it.

Outputs (run_dir):      checkpoints/ (spam_tf.rl.checkpoints), policy_weights.npz
                        (spam_tf.rl.snapshots), saved_model/ (PolicySaver),
                        result.json (written last: its presence means done).
TensorBoard (log_dir):  Eval/AverageReturn, Eval/AverageEpisodeLength, Eval/StochasticAverageReturn,
                        Train/AverageReturn, Train/AverageEpisodeLength, Train/Loss,
                        Perf/EnvStepsPerSecond, Perf/*Seconds, Weights/Start, Weights/Final.
"""
import contextlib
import dataclasses
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

from spam_tf import files
from spam_tf.rl import agents
from spam_tf.rl import checkpoints as checkpoints_lib
from spam_tf.rl import collect
from spam_tf.rl import curves
from spam_tf.rl import envs as envs_lib
from spam_tf.rl import policy as policy_lib
from spam_tf.rl import snapshots
from spam_tf.rl import weights as weights_lib
from spam_tf.terminal import progress as progress_lib

RESULT_FILE = files.RESULT_FILE  # its presence means the stage is done


class TrainingDiverged(RuntimeError):
  """The loss became NaN or infinite; the last good checkpoint is kept."""


def seed_everything(seed: int):
  """Seeds Python, numpy and TensorFlow and makes TF ops deterministic."""
  tf.keras.utils.set_random_seed(seed)  # random, numpy and tf in one call
  tf.config.experimental.enable_op_determinism()


@gin.configurable(denylist=["env_id", "run_dir", "log_dir", "seed", "start_fn", "label", "hparams", "record"])
def train_eval(env_id, run_dir, log_dir, seed, start_fn=None, label="", hparams=None, record=None,
               iterations=100, batch_steps=5000, num_envs=8, eval_episodes=5,
               eval_interval=1, checkpoint_interval=10, convergence_return=None,
               weight_snapshots=(1, 2, 5, 10, 20, 50)):
  """Trains one agent; returns the result dict (also written to run_dir/result.json).

  start_fn: None for TF-Agents' random initialisation, or a function (discrete, fresh
    actor arrays, policy_of: arrays -> NumpyPolicy, collect_fresh: min steps -> the fresh
    initialisation's complete episodes) -> (the start point's arrays (M_SPAM), env steps
    spent choosing it that train nothing: counted in env_steps and start_env_steps,
    episodes of collect_fresh that become the head of iteration 1's batch: only where the
    start is the fresh initialisation); it gets the seeded fresh initialisation, so parts
    it does not fill match scratch's.
  hparams: None, or {name: str/int/float} logged through TensorBoard's HParams plugin.
  record: None, or more JSON fields for result.json (e.g. the code that trained it).
  weight_snapshots: iterations after which the actor's weights are kept.
  convergence_return: the unit's own success criterion (default: gymnasium's
    reward_threshold); experiments apply theirs to the curves (spam_tf/rl/criteria.py).
  Returns the result dict: eval_iterations [E], eval_returns [E] (iteration 0 is the
  start point), stochastic_eval_returns, train_returns, losses, env_steps, timings,
  iterations_to_convergence, and the paths of the saved weights and SavedModel.
  """
  _check_counts(iterations=iterations, batch_steps=batch_steps, num_envs=num_envs,
                eval_episodes=eval_episodes, eval_interval=eval_interval,
                checkpoint_interval=checkpoint_interval, weight_snapshots=weight_snapshots)
  result_path = os.path.join(run_dir, RESULT_FILE)
  if os.path.exists(result_path):
    return files.read_json(result_path)
  os.makedirs(run_dir, exist_ok=True)
  seed_everything(seed)
  stage = _Stage(env_id, run_dir, log_dir, seed, label, num_envs, eval_episodes,
                 convergence_return, start_fn)
  history = stage.begin_or_resume(hparams)
  progress_lib.write_unit_progress(run_dir, iterations, history, stage.iteration)
  first_iteration_done = None  # wall clock (epoch s) of this process's first iteration
  for iteration in range(stage.iteration + 1, iterations + 1):
    clock = [time.perf_counter()]
    episodes = stage.collect(iteration, batch_steps, history["mean_episode_length"])
    clock.append(time.perf_counter())
    loss = stage.train(episodes, iteration)
    clock.append(time.perf_counter())
    evaluated = iteration % eval_interval == 0 or iteration == iterations
    evaluation = stage.evaluate(iteration) if evaluated else None
    clock.append(time.perf_counter())
    row = _record(history, iteration, episodes, loss, evaluation, np.diff(clock).tolist())
    stage.log(iteration, iterations, history, row)
    if iteration in weight_snapshots and iteration < iterations:
      snapshots.save(run_dir, **{f"iteration_{iteration}": stage.weights()})
    stage.iteration_var.assign(iteration)
    progress_lib.write_unit_progress(run_dir, iterations, history, iteration)
    first_iteration_done = first_iteration_done or time.time()
    if iteration % checkpoint_interval == 0 and iteration < iterations:
      stage.checkpoints.save(iteration, history)
  stochastic_eval_returns = stage.finish(iterations, history)
  result = {**_result(env_id, seed, iterations, batch_steps, stage, history,
                      stochastic_eval_returns, first_iteration_done), **(record or {})}
  files.write_json(result_path, result)
  return result


class _Stage:
  """One stage's collaborators (envs, agent, checkpoints, TensorBoard writer) and its
  phases. Built in a fixed order after seeding: the agent's initialisation, and so
  every start point's untransferred parts, depends on what was drawn before it."""

  def __init__(self, env_id, run_dir, log_dir, seed, label, num_envs, eval_episodes,
               convergence_return, start_fn):
    self.run_dir, self.seed, self.label = run_dir, seed, label
    self.train_envs = collect.EpisodeCollector(env_id, num_envs)
    self.threshold = convergence_threshold(self.train_envs.envs[0], convergence_return)
    self.eval_envs = collect.EpisodeCollector(env_id, eval_episodes)
    env = self.train_envs.envs[0]
    self.action_spec = envs_lib.action_spec(env)
    self.agent, self.actor_net = agents.make_agent(envs_lib.observation_spec(env), self.action_spec)
    self.discrete = bool(np.issubdtype(self.action_spec.dtype, np.integer))
    self.records_info = self.agent.collect_data_spec.policy_info != ()  # PPO: distribution parameters
    self.start_env_steps, self.first_episodes = 0, []
    if start_fn is not None:
      start, self.start_env_steps, self.first_episodes = start_fn(
          self.discrete, weights_lib.get(self.actor_net), self.policy_of, self.collect_fresh)
      weights_lib.assign(self.actor_net, start)
    self.train_fn = make_train_fn(self.agent)
    self.iteration_var = tf.Variable(0, dtype=tf.int64)
    self.checkpoints = checkpoints_lib.Checkpoints(
        run_dir, tf.train.Checkpoint(agent=self.agent, iteration=self.iteration_var))
    with files.tf_writes(f"TensorBoard events in {log_dir}"):
      self.writer = tf.summary.create_file_writer(log_dir)

  @property
  def iteration(self):
    """The last finished iteration (0 before the first)."""
    return int(self.iteration_var.numpy())

  def weights(self):
    return weights_lib.flatten(weights_lib.get(self.actor_net))

  def policy(self):
    return policy_lib.from_network(self.actor_net, self.action_spec)

  def policy_of(self, arrays):  # this network's numpy policy with other weights
    return dataclasses.replace(self.policy(), weights=list(arrays))

  def begin_or_resume(self, hparams):
    """The history to continue: the latest checkpoint's, or a new one that starts with
    the start point's evaluation (iteration 0)."""
    history = self.checkpoints.restore()
    if history is not None:
      logging.info("[%s] resuming from the checkpoint of iteration %d", self.label, self.iteration)
      history.setdefault("resumed_from", []).append(self.iteration)
      return history
    start_weights = self.weights()
    snapshots.save(self.run_dir, start=start_weights)
    history = checkpoints_lib.new_history()
    history["env_steps"] = history["start_env_steps"] = self.start_env_steps
    eval_return, eval_length, _ = self.evaluate(0)
    history["eval_returns"].append(eval_return)
    self.write_scalars(0, {"Eval/AverageReturn": eval_return, "Eval/AverageEpisodeLength": eval_length})
    with files.tf_writes("TensorBoard events"), self.writer.as_default(step=0):
      tf.summary.histogram("Weights/Start", start_weights)
      if hparams:  # TensorBoard's HParams dashboard filters runs by these
        hparams_api.hparams(hparams)
    logging.info("[%s] start: eval return %.1f", self.label, eval_return)
    return history

  def collect(self, iteration, batch_steps, mean_episode_length):
    """The iteration's episodes from the stochastic policy (seeded by seed and iteration);
    iteration 1's batch starts with the start_fn's first episodes, if it gave any."""
    head = self.first_episodes if iteration == 1 else []
    steps = batch_steps - sum(ep.length for ep in head)
    if head and steps <= 0:
      return head
    mean_episode_length = collect.episode_stats(head)[1] if head else mean_episode_length
    num_envs = collect.start_envs(steps, mean_episode_length, len(self.train_envs.envs))
    return head + self._sample(steps, (self.seed, 0, iteration), (self.seed, 1, iteration), num_envs)

  def collect_fresh(self, min_steps):
    """The fresh initialisation's complete episodes (one env, seeds no other collection of
    the stage uses): a start_fn's target data, iteration 1's head if it keeps that start."""
    return self._sample(min_steps, (self.seed, 5, 0), (self.seed, 6, 0), 1)

  def _sample(self, min_steps, reset_keys, noise_keys, num_envs):
    sampler = self.policy()
    rng = np.random.default_rng(collect.derive_seed(*noise_keys))
    act = sampler.sample_with_info if self.records_info else sampler.sample
    return self.train_envs.collect(lambda obs: act(obs, rng), min_steps,
                                   collect.derive_seed(*reset_keys), num_envs)

  def train(self, episodes, iteration):
    """One gradient step on the episodes; returns the loss."""
    experience = collect.to_trajectory(episodes, self.agent.collect_data_spec.action)
    return _train_step(self.train_fn, experience, self.agent,
                       f"{self.label}: iteration {iteration}", self.checkpoints.dir)

  def evaluate(self, iteration):
    """(mean return, mean length, steps) of the greedy policy's eval episodes."""
    episodes = self.eval_envs.collect(self.policy().greedy, 0,
                                      collect.derive_seed(self.seed, 2, iteration))
    return collect.episode_stats(episodes)

  def evaluate_stochastic(self, iteration):
    sampler = self.policy()
    rng = np.random.default_rng(collect.derive_seed(self.seed, 4, iteration))
    episodes = self.eval_envs.collect(lambda obs: sampler.sample(obs, rng), 0,
                                      collect.derive_seed(self.seed, 3, iteration))
    return collect.episode_stats(episodes)[0]

  def write_scalars(self, step, scalars):
    with files.tf_writes("TensorBoard events"), self.writer.as_default(step=step):
      for tag, value in scalars.items():
        tf.summary.scalar(tag, value)

  def log(self, iteration, iterations, history, row):
    """The iteration's numbers to TensorBoard and the log."""
    collect_seconds, train_seconds, eval_seconds = row["seconds"]
    weights = self.weights()
    scalars = {
        "Train/AverageReturn": row["train_return"], "Train/AverageEpisodeLength": row["train_length"],
        "Train/Loss": row["loss"], "Train/EnvSteps": history["env_steps"],
        "Train/EnvStepsPerIteration": row["steps"],
        "Perf/EnvStepsPerSecond": row["steps"] / collect_seconds, "Perf/CollectSeconds": collect_seconds,
        "Perf/TrainSeconds": train_seconds, "Perf/EvalSeconds": eval_seconds,
        "Weights/ZeroFraction": float(np.mean(weights == 0)),
    }
    if row["evaluation"] is not None:
      scalars.update({"Eval/AverageReturn": row["evaluation"][0],
                      "Eval/AverageEpisodeLength": row["evaluation"][1]})
    self.write_scalars(iteration, scalars)
    # This iteration's episodes were the previous policy's stochastic evaluation.
    self.write_scalars(iteration - 1, {"Eval/StochasticAverageReturn": row["train_return"]})
    logging.info("[%s] it %d/%d  train %.1f  eval %s  loss %.3f  %d steps/s", self.label,
                 iteration, iterations, row["train_return"],
                 "-" if row["evaluation"] is None else f"{row['evaluation'][0]:.1f}", row["loss"],
                 row["steps"] / collect_seconds)

  def finish(self, iterations, history):
    """The last stochastic evaluation, the final weights, the SavedModel; returns the
    stochastic eval returns [iterations + 1]."""
    stochastic_eval_returns = history["train_returns"] + [self.evaluate_stochastic(iterations)]
    self.write_scalars(iterations, {"Eval/StochasticAverageReturn": stochastic_eval_returns[-1]})
    final_weights = self.weights()
    with files.tf_writes("TensorBoard events"), self.writer.as_default(step=iterations):
      tf.summary.histogram("Weights/Final", final_weights)
      self.writer.flush()
    self.train_envs.close()
    self.eval_envs.close()
    snapshots.save(self.run_dir, final=final_weights)
    export_policy(self.agent, os.path.join(self.run_dir, "saved_model"))
    return stochastic_eval_returns


def _record(history, iteration, episodes, loss, evaluation, seconds):
  """Adds one iteration to the history; returns its numbers (for the log)."""
  train_return, train_length, steps = collect.episode_stats(episodes)
  history["train_returns"].append(train_return)
  history["losses"].append(loss)
  history["env_steps"] += steps
  history["steps_per_iteration"].append(steps)
  history["mean_episode_length"] = train_length
  if evaluation is not None:
    history["eval_iterations"].append(iteration)
    history["eval_returns"].append(evaluation[0])
  for key, value in zip(("collect", "train", "eval"), seconds):
    history["seconds"][key] += value
  history["iteration_seconds"].append(seconds)
  return {"train_return": train_return, "train_length": train_length, "steps": steps, "loss": loss,
          "evaluation": evaluation, "seconds": seconds}


def _result(env_id, seed, iterations, batch_steps, stage, history, stochastic_eval_returns,
            first_iteration_done):
  return {
      "env_id": env_id, "seed": seed, "iterations": iterations, "batch_steps": batch_steps,
      "discrete": stage.discrete, "convergence_return": stage.threshold,
      "iterations_to_convergence": None if stage.threshold is None else curves.first_reaching(
          history["eval_iterations"], history["eval_returns"], stage.threshold),
      "final_eval_return": history["eval_returns"][-1],
      "eval_iterations": history["eval_iterations"],
      "eval_returns": history["eval_returns"],
      "stochastic_eval_returns": stochastic_eval_returns,  # [iterations + 1], see the module doc
      "train_returns": history["train_returns"],
      "losses": history["losses"],
      "env_steps": history["env_steps"],  # start_env_steps included
      "start_env_steps": history.get("start_env_steps", 0),
      "steps_per_iteration": history["steps_per_iteration"],
      "seconds": history["seconds"],
      "iteration_seconds": history["iteration_seconds"],  # [collect, train, eval] per iteration
      "resumed_from": history.get("resumed_from", []),
      "first_iteration_done": first_iteration_done,
      "weight_shapes": [list(np.shape(w)) for w in weights_lib.get(stage.actor_net)],
      "policy_weights": snapshots.WEIGHTS_FILE,
      "saved_model": "saved_model",
  }


# --- the pieces the phases use ----------------------------------------------------


def make_train_fn(agent):
  """agent.train as one tf.function for any number of [1, T] time steps."""
  signature = tf.nest.map_structure(
      lambda s: tf.TensorSpec([None, None] + s.shape.as_list(), s.dtype),
      agent.collect_data_spec)
  # autograph=False: the traced code has no data-dependent Python control flow,
  # and skipping autograph cuts the first trace from about 10 s to about 1 s.
  return tf.function(lambda experience: agent.train(experience).loss,
                     input_signature=[signature], autograph=False)


def export_policy(agent, saved_model_dir):
  """PolicySaver export of the greedy policy (tmp dir, then rename)."""
  tmp_dir = saved_model_dir + ".tmp"
  if os.path.exists(tmp_dir):  # left by a run killed during export
    shutil.rmtree(tmp_dir)
  with files.tf_writes(f"the SavedModel {tmp_dir}"):
    policy_saver.PolicySaver(agent.policy, batch_size=None).save(tmp_dir)
  files.replace_dir(tmp_dir, saved_model_dir)


def convergence_threshold(env, convergence_return):
  """The unit's own criterion, for its log and result.json: convergence_return if given,
  else gymnasium's reward_threshold (None if the task has none). Experiments judge with
  theirs (spam_tf/rl/criteria.py), so a unit serves experiments of other criteria."""
  threshold = env.spec.reward_threshold if convergence_return is None else convergence_return
  return None if threshold is None else float(threshold)


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


# --- checking the configuration before anything runs -------------------------------

COUNT_PARAMETERS = ("iterations", "batch_steps", "num_envs", "eval_episodes", "eval_interval",
                    "checkpoint_interval")


_is_count = lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 1


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
