"""Small models of the architectures users bring, each built fresh with fixed weights (seeded).

Every builder returns an uncompiled-or-logits-compiled Keras model with a linear head (logits).
Shapes are tiny so the whole suite stays quick; the point is the layer types, not the size.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

VOCAB = 40
SEQ_LEN = 10


def _logits_model(inputs, outputs, name: str) -> keras.Model:
    model = keras.Model(inputs, outputs, name=name)
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def functional_mlp() -> keras.Model:
    keras.utils.set_random_seed(11)
    x = keras.Input((8,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(x)
    hidden = keras.layers.Dense(16, activation="tanh")(hidden)
    return _logits_model(x, keras.layers.Dense(3, name="logits")(hidden), "mlp")


def sequential_mlp() -> keras.Model:
    keras.utils.set_random_seed(12)
    model = keras.Sequential(
        [
            keras.Input((8,), name="features"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(3),
        ],
        name="sequential_mlp",
    )
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def cnn_batchnorm_dropout() -> keras.Model:
    keras.utils.set_random_seed(13)
    x = keras.Input((16, 16, 3), name="image")
    h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Activation("relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(8, 3, padding="same")(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dropout(0.5)(h)
    model = _logits_model(x, keras.layers.Dense(4)(h), "cnn")
    _randomise_batchnorm(model)
    return model


def _randomise_batchnorm(model: keras.Model) -> None:
    """Non-trivial moving statistics, so the exported graph must really apply them."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                    rng.normal(0, 0.1, beta.shape).astype("float32"),
                    rng.normal(0, 0.5, mean.shape).astype("float32"),
                    rng.uniform(0.5, 2.0, var.shape).astype("float32"),
                ]
            )


def _tokens() -> keras.KerasTensor:
    return keras.Input((SEQ_LEN,), dtype="int32", name="token_ids")


def embedding_lstm() -> keras.Model:
    keras.utils.set_random_seed(14)
    tokens = _tokens()
    h = keras.layers.Embedding(VOCAB, 8)(tokens)
    h = keras.layers.LSTM(12)(h)
    return _logits_model(tokens, keras.layers.Dense(3)(h), "lstm")


def bidirectional_gru() -> keras.Model:
    keras.utils.set_random_seed(15)
    tokens = _tokens()
    h = keras.layers.Embedding(VOCAB, 8)(tokens)
    h = keras.layers.Bidirectional(keras.layers.GRU(8))(h)
    return _logits_model(tokens, keras.layers.Dense(3)(h), "bigru")


def conv1d_tokens() -> keras.Model:
    keras.utils.set_random_seed(16)
    tokens = _tokens()
    h = keras.layers.Embedding(VOCAB, 8)(tokens)
    h = keras.layers.Conv1D(12, 3, activation="relu")(h)
    h = keras.layers.GlobalMaxPooling1D()(h)
    return _logits_model(tokens, keras.layers.Dense(3)(h), "conv1d")


def numbers_and_tokens() -> keras.Model:
    keras.utils.set_random_seed(17)
    numbers = keras.Input((4,), name="numbers")
    tokens = _tokens()
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(VOCAB, 6)(tokens))
    merged = keras.layers.Concatenate()([keras.layers.Dense(6, activation="relu")(numbers), pooled])
    return _logits_model([numbers, tokens], keras.layers.Dense(3)(merged), "two_inputs")


def adapted_normalization() -> keras.Model:
    keras.utils.set_random_seed(18)
    norm = keras.layers.Normalization()
    norm.adapt(np.random.default_rng(1).normal([10.0, -3.0, 0.5, 100.0], [2.0, 0.5, 1.0, 30.0], (256, 4)))
    x = keras.Input((4,), name="raw")
    h = keras.layers.Dense(8, activation="relu")(norm(x))
    return _logits_model(x, keras.layers.Dense(2)(h), "normalized")


@keras.saving.register_keras_serializable("tests_export")
class SubclassedClassifier(keras.Model):
    def __init__(self, n_labels: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.n_labels = n_labels
        self.hidden = keras.layers.Dense(16, activation="relu")
        self.head = keras.layers.Dense(n_labels)

    def call(self, inputs):
        return self.head(self.hidden(inputs))

    def get_config(self):
        return {**super().get_config(), "n_labels": self.n_labels}


def subclassed() -> keras.Model:
    keras.utils.set_random_seed(19)
    model = SubclassedClassifier(3)
    model(np.zeros((1, 6), "float32"))
    return model


def _backbone_model(application: Callable, name: str) -> keras.Model:
    keras.utils.set_random_seed(20)
    image = keras.Input((32, 32, 3), name="image")
    backbone = application(input_shape=(32, 32, 3), include_top=False, weights=None, pooling="avg")
    head = keras.layers.Dense(3)
    model = _logits_model(image, head(backbone(image)), name)
    # Untrained backbones pool to features of ~1e-10, so every probability would be 0.5 and parity
    # would prove nothing. Scale the head so the logits are O(1) and carry the backbone's differences.
    sample = np.random.default_rng(2).uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    features = np.asarray(backbone(sample, training=False))
    centred = features - features.mean(axis=0)
    kernel = np.random.default_rng(3).normal(size=head.kernel.shape) / (centred.std() * np.sqrt(features.shape[1]))
    bias = -(features.mean(axis=0) @ kernel)
    head.set_weights([kernel.astype("float32"), bias.astype("float32")])
    return model


def mobilenet_v3_small() -> keras.Model:
    return _backbone_model(keras.applications.MobileNetV3Small, "mobilenet_v3_small")


def efficientnet_b0() -> keras.Model:
    return _backbone_model(keras.applications.EfficientNetB0, "efficientnet_b0")


def transformer_block() -> keras.Model:
    keras.utils.set_random_seed(21)
    tokens = _tokens()
    h = keras.layers.Embedding(VOCAB, 16)(tokens)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(h, h)
    h = keras.layers.LayerNormalization()(h + attended)
    ff = keras.layers.Dense(32, activation=keras.activations.gelu)(h)  # keras 3: exact (erf) GELU by default
    h = keras.layers.LayerNormalization()(h + keras.layers.Dense(16)(ff))
    h = keras.layers.GlobalAveragePooling1D()(h)
    return _logits_model(tokens, keras.layers.Dense(3)(h), "transformer")


BUILDERS: dict[str, Callable[[], keras.Model]] = {
    "functional_mlp": functional_mlp,
    "sequential_mlp": sequential_mlp,
    "cnn_batchnorm_dropout": cnn_batchnorm_dropout,
    "embedding_lstm": embedding_lstm,
    "bidirectional_gru": bidirectional_gru,
    "conv1d_tokens": conv1d_tokens,
    "numbers_and_tokens": numbers_and_tokens,
    "adapted_normalization": adapted_normalization,
    "subclassed": subclassed,
    "mobilenet_v3_small": mobilenet_v3_small,
    "efficientnet_b0": efficientnet_b0,
    "transformer_block": transformer_block,
}
