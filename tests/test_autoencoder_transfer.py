import numpy as np
import pytest

from spam_tf.rl import weights
from spam_tf.spam import autoencoder
from spam_tf.spam import transfer
from tests.test_policy import make


def expert_vector(env_id="CartPole-v1"):
  _, net, _ = make(env_id, seed=3)
  arrays = weights.get(net)
  return weights.flatten(arrays), [a.shape for a in arrays]


def test_autoencoder_shapes():
  model, encoder = autoencoder.build_autoencoder(100)
  assert [l.units for l in model.layers[1:]] == [256, 128, 256, 100]
  assert encoder.output_shape == (None, 128) and model.output_shape == (None, 100)


@pytest.mark.parametrize("output_activation", ["relu", "linear"])
def test_autoencoder_loss_falls_and_output_activation_sets_zeros(tmp_path, output_activation):
  import gin
  vector, _ = expert_vector()
  with gin.unlock_config():
    gin.bind_parameter("build_autoencoder.output_activation", output_activation)
  try:
    result = autoencoder.train_autoencoder(vector[None], str(tmp_path), str(tmp_path / "logs"),
                                           seed=0, epochs=300)
  finally:
    gin.clear_config()
  reconstruction = autoencoder.load_reconstruction(str(tmp_path))
  initial, final = result["loss_curve"][0], result["loss_curve"][-1]
  if output_activation == "relu":
    # No negative output is possible, so the loss cannot go below the negatives' share.
    assert np.mean(np.minimum(vector, 0) ** 2) <= final < 0.7 * initial
  else:
    assert final < 0.05 * initial
  assert result["reconstruction_mse"] == pytest.approx(np.mean((reconstruction - vector) ** 2), rel=1e-4)
  assert reconstruction.shape == vector.shape
  zero_share = np.mean(reconstruction == 0)
  if output_activation == "relu":
    assert zero_share >= np.mean(vector < 0)  # no negative output is possible
  else:
    assert zero_share == 0.0
  with np.load(tmp_path / "codes.npz") as codes:
    assert codes["genome"].shape == (1, 128)
  assert (tmp_path / "autoencoder.keras").stat().st_size > 0


def arrays_of(env_id, seed, **_):
  _, net, act_spec = make(env_id, seed=seed)
  return weights.get(net), np.issubdtype(act_spec.dtype, np.integer)


def test_same_shapes_copy_everything():
  source, discrete = arrays_of("InvertedPendulum-v4", 1)
  target, _ = arrays_of("InvertedPendulum-v4", 2)
  out, how = transfer.transfer(source, discrete, target, discrete)
  assert set(how.values()) == {"copied"}
  for a, b in zip(out, source):
    np.testing.assert_array_equal(a, b)


def test_logit_difference_categorical_to_gaussian():
  source, _ = arrays_of("CartPole-v1", 1)
  target, _ = arrays_of("InvertedPendulum-v4", 2)
  out, how = transfer.transfer(source, True, target, False, head_strategy="logit_difference")
  assert how["hidden_0/kernel"] == "copied" and how["head/kernel"] == "logit_difference"
  np.testing.assert_array_equal(out[0], source[0])
  np.testing.assert_allclose(out[4], source[4][:, 1:2] - source[4][:, 0:1])
  np.testing.assert_allclose(out[5], source[5][1:2] - source[5][0:1])
  np.testing.assert_array_equal(out[6], target[6])  # std keeps the target's init
  # and back: a Gaussian mean m becomes logits (-m/2, m/2), whose difference is m
  back, _ = transfer.transfer(out, False, source, True, head_strategy="logit_difference")
  np.testing.assert_allclose(back[4][:, 1] - back[4][:, 0], out[4][:, 0], rtol=1e-6)


def test_reinit_and_overlap_heads():
  source, _ = arrays_of("CartPole-v1", 1)
  target, _ = arrays_of("InvertedPendulum-v4", 2)
  out, how = transfer.transfer(source, True, target, False, head_strategy="reinit")
  assert how["head/kernel"] == "reinit"
  np.testing.assert_array_equal(out[4], target[4])
  out, how = transfer.transfer(source, True, target, False, head_strategy="overlap")
  np.testing.assert_array_equal(out[4], source[4][:, :1])


def test_layer_overlap_for_a_different_observation_size():
  source, _ = arrays_of("CartPole-v1", 1)
  target, _ = arrays_of("CartPole-v1", 2)
  target[0] = np.full((6, 64), 7.0, np.float32)  # as if the target saw 6 features
  out, how = transfer.transfer(source, True, target, True, layer_strategy="overlap")
  assert how["hidden_0/kernel"] == "overlap"
  np.testing.assert_array_equal(out[0][:4], source[0])
  np.testing.assert_array_equal(out[0][4:], 7.0)
  out, how = transfer.transfer(source, True, target, True, layer_strategy="reinit")
  np.testing.assert_array_equal(out[0], target[0])


def test_no_fitting_strategy_is_a_clear_error():
  source, _ = arrays_of("CartPole-v1", 1)
  target, _ = arrays_of("InvertedPendulum-v4", 2)
  three_way = [a for a in source]
  three_way[4] = np.zeros((64, 3), np.float32)
  three_way[5] = np.zeros(3, np.float32)
  with pytest.raises(transfer.TransferError, match="3-way categorical -> 1-D Gaussian"):
    transfer.transfer(three_way, True, target, False, head_strategy="logit_difference")
  with pytest.raises(transfer.TransferError, match="hidden layers"):
    transfer.transfer(source[2:], True, target, False)
  with pytest.raises(transfer.TransferError, match="unknown head_strategy"):
    transfer.transfer(source, True, target, False, head_strategy="magic")


def random_actor(obs_dim, outputs, discrete, seed, hidden=(64, 64)):
  """Arrays in spam_tf.rl.weights order for an MLP with a categorical (outputs actions) or
  Gaussian (outputs dimensions) head."""
  rng = np.random.default_rng(seed)
  sizes = (obs_dim,) + tuple(hidden)
  arrays = []
  for rows, cols in zip(sizes[:-1], sizes[1:]):
    arrays += [rng.normal(size=(rows, cols)).astype(np.float32), rng.normal(size=cols).astype(np.float32)]
  arrays += [rng.normal(size=(sizes[-1], outputs)).astype(np.float32), rng.normal(size=outputs).astype(np.float32)]
  return arrays + ([] if discrete else [rng.normal(size=outputs).astype(np.float32)])


# (source outputs, source discrete, target outputs, target discrete)
HEAD_PAIRS = [(2, True, 3, True), (3, True, 2, True), (1, False, 2, False), (3, False, 1, False),
              (3, True, 1, False), (1, False, 3, True), (2, True, 2, False)]


@pytest.mark.parametrize("source_n,source_discrete,target_n,target_discrete", HEAD_PAIRS)
def test_default_head_overlaps_where_logit_difference_does_not_apply(
    source_n, source_discrete, target_n, target_discrete):
  source = random_actor(4, source_n, source_discrete, seed=0)
  target = random_actor(4, target_n, target_discrete, seed=1)
  out, how = transfer.transfer(source, source_discrete, target, target_discrete)
  assert how["head/kernel"] == how["head/bias"] == "overlap"
  shared = min(source_n, target_n)
  np.testing.assert_array_equal(out[4][:, :shared], source[4][:, :shared])
  np.testing.assert_array_equal(out[4][:, shared:], target[4][:, shared:])  # fresh init for the rest
  np.testing.assert_array_equal(out[5][:shared], source[5][:shared])
  np.testing.assert_array_equal(out[5][shared:], target[5][shared:])
  if not target_discrete:
    assert how["head/std_bias"] == "target init"
    np.testing.assert_array_equal(out[6], target[6])
  assert [a.shape for a in out] == [a.shape for a in target]
  assert all(how[f"hidden_{i}/{part}"] == "copied" for i in (0, 1) for part in ("kernel", "bias"))


@pytest.mark.parametrize("source_discrete,target_discrete", [(True, False), (False, True)])
def test_default_head_is_logit_difference_between_2_way_categorical_and_1_d_gaussian(
    source_discrete, target_discrete):
  source = random_actor(4, 2 if source_discrete else 1, source_discrete, seed=0)
  target = random_actor(4, 2 if target_discrete else 1, target_discrete, seed=1)
  _, how = transfer.transfer(source, source_discrete, target, target_discrete)
  assert how["head/kernel"] == how["head/bias"] == "logit_difference"


@pytest.mark.parametrize("source_obs,target_obs", [(4, 6), (6, 4)])
def test_default_transfer_for_another_observation_size(source_obs, target_obs):
  source = random_actor(source_obs, 2, True, seed=0)
  target = random_actor(target_obs, 2, True, seed=1)
  out, how = transfer.transfer(source, True, target, True)
  assert how["hidden_0/kernel"] == "reinit"  # the default layer strategy
  np.testing.assert_array_equal(out[0], target[0])
  assert how["hidden_0/bias"] == how["hidden_1/kernel"] == how["head/kernel"] == "copied"
  np.testing.assert_array_equal(out[2], source[2])
  out, how = transfer.transfer(source, True, target, True, layer_strategy="overlap")
  shared = min(source_obs, target_obs)
  np.testing.assert_array_equal(out[0][:shared], source[0][:shared])
  np.testing.assert_array_equal(out[0][shared:], target[0][shared:])


def test_explicit_strategies_that_do_not_fit_still_raise():
  source = random_actor(4, 2, True, seed=0)
  target = random_actor(4, 3, True, seed=1)
  with pytest.raises(transfer.TransferError, match="2-way categorical -> 3-way categorical"):
    transfer.transfer(source, True, target, True, head_strategy="logit_difference")


def test_observation_map_permutes_the_first_layers_rows():
  source = random_actor(4, 2, True, seed=0)
  target = random_actor(5, 2, True, seed=1)
  # Target observation i reads source observation map[i]; the 5th has no counterpart.
  out, how = transfer.transfer(source, True, target, True, observation_map=(0, 2, 1, 3, None))
  assert how["hidden_0/kernel"] == "observation_map" and how["hidden_0/bias"] == "copied"
  np.testing.assert_array_equal(out[0][:4], source[0][[0, 2, 1, 3]])
  np.testing.assert_array_equal(out[0][4], target[0][4])
  for a, b in zip(out[1:], source[1:]):
    np.testing.assert_array_equal(a, b)


def test_action_map_permutes_the_heads_columns():
  source = random_actor(4, 3, True, seed=0)
  target = random_actor(4, 2, True, seed=1)
  out, how = transfer.transfer(source, True, target, True, action_map=(2, 0))
  assert how["head/kernel"] == how["head/bias"] == "action_map"
  np.testing.assert_array_equal(out[4], source[4][:, [2, 0]])
  np.testing.assert_array_equal(out[5], source[5][[2, 0]])


@pytest.mark.parametrize("kwargs,message", [
    (dict(observation_map=(0, 1, 2)), "observation_map must list, for each of the target's 4"),
    (dict(observation_map=(0, 1, 2, 7)), r"source index in \[0, 4\)"),
    (dict(action_map=(0,)), "action_map must list"),
])
def test_bad_maps_are_clear_errors(kwargs, message):
  source = random_actor(4, 2, True, seed=0)
  target = random_actor(4, 2, True, seed=1)
  with pytest.raises(transfer.TransferError, match=message):
    transfer.transfer(source, True, target, True, **kwargs)


def test_action_map_between_head_kinds_is_refused():
  source = random_actor(4, 2, True, seed=0)
  target = random_actor(4, 1, False, seed=1)
  with pytest.raises(transfer.TransferError, match="same kind"):
    transfer.transfer(source, True, target, False, action_map=(0,))
