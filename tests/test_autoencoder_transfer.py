import numpy as np
import pytest

from spam_tf import autoencoder
from spam_tf import transfer
from spam_tf import weights
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
