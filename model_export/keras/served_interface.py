"""What clients see of an exported model besides its graph, as the export options shape it: the input names
(`--input-name`, the "text" alias, a warning for names Keras generated), the labels served (`--drop-label`, a
warning for a lookup's "[UNK]" or a label without a positive row) and whether a text without a known word is
refused (`--refuse-empty-texts`). Applied to the loaded source before conversion; written as metadata after it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from model_export.data.label_warnings import EXPORT_REMEDY, label_warnings, sample_truth
from model_export.errors import ExportError
from model_export.keras import input_names
from model_export.keras.load import LoadedSource
from service.contract.input_aliases import dump_input_aliases
from service.contract.metadata import DROPPED_LABELS, INPUT_ALIASES, INPUT_RENAMES

REFUSE_EMPTY_TEXTS_OPTION = "--refuse-empty-texts"


@dataclass
class ServedInterface:
    labels: list[str]  # every output column of the source
    served_columns: list[int]  # the columns served, in order
    renames: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    refuse_empty_texts: bool = False
    name_warnings: list[str] = field(default_factory=list)

    @classmethod
    def apply(
        cls,
        loaded: LoadedSource,
        labels: Sequence[str],
        served_columns: Sequence[int],
        renames: Mapping[str, str] | None,
        refuse_empty_texts: bool,
    ) -> ServedInterface:
        """The interface, with the renames and the refusal applied to `loaded` (ExportError when they cannot be)."""
        renames = dict(renames or {})
        if loaded.transformer is not None:
            _check_transformer_options(renames, len(served_columns) < len(labels), refuse_empty_texts)
        if renames and loaded.kind != "keras":
            raise ExportError(
                f"{input_names.OPTION} renames the inputs of a Keras file (.keras, .h5); a SavedModel's inputs are "
                "named by its signature"
            )
        if refuse_empty_texts and loaded.text is None:
            raise ExportError(f"{REFUSE_EMPTY_TEXTS_OPTION} is for models that read raw text; this one takes numbers")
        input_names.rename_inputs(loaded, renames)
        if refuse_empty_texts:
            loaded.text.refuse_empty_texts = True
        return cls(
            list(labels),
            list(served_columns),
            renames,
            input_names.text_aliases(loaded),
            refuse_empty_texts,
            input_names.generated_name_warnings(loaded),
        )

    @property
    def served_labels(self) -> list[str]:
        return [self.labels[column] for column in self.served_columns]

    @property
    def dropped(self) -> list[str]:
        return [label for label in self.labels if label not in self.served_labels]

    @property
    def columns(self) -> list[int] | None:
        """The output columns to keep, or None when every one is served."""
        return self.served_columns if self.dropped else None

    def metadata(self) -> dict[str, str]:
        entries = {}
        if self.aliases:
            entries[INPUT_ALIASES] = dump_input_aliases(self.aliases)
        if self.renames:
            entries[INPUT_RENAMES] = input_names.renames_entry(self.renames)
        if self.dropped:  # each with its column in the source's output, for verify
            dropped = {label: column for column, label in enumerate(self.labels) if label in self.dropped}
            entries[DROPPED_LABELS] = json.dumps(dropped, ensure_ascii=False)
        return entries

    def notes(self) -> list[str]:
        notes = [f"label {label!r} is not served (--drop-label)" for label in self.dropped]
        notes += [f"input {old!r} is served as {new!r} ({input_names.OPTION})" for old, new in self.renames.items()]
        notes += [f"the native API also takes {alias!r} for input {name!r}" for alias, name in self.aliases.items()]
        if self.refuse_empty_texts:
            notes.append(f"a text with no word of the vocabulary is refused with a 400 ({REFUSE_EMPTY_TEXTS_OPTION})")
        return notes

    def warnings(self, sample_data: str | Path | None) -> list[str]:
        truth = sample_truth(sample_data, self.labels)
        served = None if truth is None else truth[:, self.served_columns]
        data_file = None if sample_data is None else Path(sample_data)
        return [*self.name_warnings, *label_warnings(self.served_labels, served, data_file, EXPORT_REMEDY)]


def recorded_columns(props: Mapping[str, str], n_labels: int) -> list[int] | None:
    """The source's output columns a model file serves (its `dropped_labels` entry), for verify; None: all."""
    raw = props.get(DROPPED_LABELS)
    if not raw:
        return None
    try:
        dropped = json.loads(raw)
    except ValueError:
        dropped = None
    if not isinstance(dropped, dict) or not all(isinstance(c, int) for c in dropped.values()):
        raise ExportError(f"the model's '{DROPPED_LABELS}' entry is not a JSON object of columns: {raw[:80]!r}")
    width = n_labels + len(dropped)
    return [column for column in range(width) if column not in set(dropped.values())]


def _check_transformer_options(renames: Mapping[str, str], drops_labels: bool, refuse_empty_texts: bool) -> None:
    """A KerasHub task's served interface is its tokenizer step's: one text input, every output column."""
    refused = [
        option
        for option, given in (
            (input_names.OPTION, bool(renames)),
            ("--drop-label", drops_labels),
            (REFUSE_EMPTY_TEXTS_OPTION, refuse_empty_texts),
        )
        if given
    ]
    if refused:
        raise ExportError(
            f"{', '.join(refused)} cannot be used with a KerasHub task yet: it is served as its tokenizer step "
            "takes it (one input named text, every label of its head)"
        )
