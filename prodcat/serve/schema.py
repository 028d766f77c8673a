"""What the service takes and answers: a product as pydantic validates it, one response schema per endpoint.

A product is keyed by the catalog's own column names (the bundle's manifest names them) and read as batch
prediction reads its CSV row: rows that pandas posts (NaN for blanks, numbers and booleans where cells look
like them) get the answers the same rows get in batch. The id is optional: echoed when given, null when not.

No `from __future__ import annotations` here: pydantic and FastAPI read these annotations at runtime.
"""

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, create_model, model_validator

from prodcat.core.params import DatasetParams
from prodcat.inference.predictor import Predictions, label_path


def served_columns(dataset: DatasetParams) -> list[str]:
    """The catalog columns a product carries, the id first: every column the model reads, the label column aside."""
    return [column for column in dataset.required_columns if column != dataset.category_column]


def catalog_cell(value: object) -> object:
    """A JSON value as batch prediction reads the CSV cell it came from: text, and None for "", null or NaN.

    read_chunks reads every cell as its text, only "" missing. pandas clients post `read_csv(...).to_dict("records")`:
    NaN for a blank, and numbers or booleans where the cells looked like them, floats for an integer column with
    blanks ("12" posted as 12.0). Lists and objects are left for the string check to refuse.
    """
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, int):  # booleans too: "True", "False"
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)  # repr: the shortest text that reads back as the float
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:  # an escaped lone surrogate: no UTF-8 catalog holds one, nor can the answer
            raise ValueError(f"not valid Unicode: lone surrogate U+{ord(value[error.start]):04X} at index {error.start}") from None
    return value


# The OpenAPI schema shows what a client may send (json_schema_input_type), not the text it becomes.
CatalogCell = Annotated[StrictStr | None, BeforeValidator(catalog_cell, json_schema_input_type=str | int | float | bool | None)]


def product_model(dataset: DatasetParams) -> type[BaseModel]:
    """One product as pydantic validates it: every served column may be blank or absent, the id too, as in the catalog.

    Each value becomes the string batch prediction reads from the product's CSV row (`catalog_cell`); other
    keys are ignored, so a whole catalog row can be posted. At least one text column must say something.
    """

    def at_least_one_text(product: BaseModel) -> BaseModel:
        row = product.model_dump(by_alias=True)
        if not any((row[column] or "").strip() for column in dataset.text_columns):
            raise ValueError(f"at least one of the text fields {', '.join(dataset.text_columns)} must be non-blank")
        return product

    fields: dict[str, Any] = {
        f"column_{index}": (CatalogCell, Field(None, alias=column)) for index, column in enumerate(served_columns(dataset))
    }
    return create_model(
        "Product",
        __config__=ConfigDict(extra="ignore"),
        # pydantic's documented way to give a created model a validator; its stub types the entry as a plain callable.
        __validators__={"at_least_one_text": model_validator(mode="after")(at_least_one_text)},  # type: ignore[dict-item]
        **fields,
    )


class Candidate(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    """The answer for one product of POST /predict."""

    id: str | None  # as sent; null for a product sent without one
    label: str
    path: list[str]  # the label's levels, top first: ["Dairy Eggs", "Yogurt"]
    level_probabilities: list[float]  # per level of `path`: the summed probability of every class under it
    top: list[Candidate]


class Health(BaseModel):
    """The answer of GET /health: the service is up, and which variant it serves."""

    status: str
    variant: str


def prediction_answers(predictions: Predictions, ids: list[str | None]) -> list[Prediction]:
    """Scored products as the API answers them, under the ids the products were sent with."""
    answers = []
    for row, (label, id_) in enumerate(zip(predictions.labels, ids, strict=True)):
        path = label_path(label)
        top = zip(predictions.classes[predictions.top_classes[row]], predictions.top_probabilities[row].tolist(), strict=True)
        answers.append(
            Prediction(
                id=id_,
                label=label,
                path=path,
                level_probabilities=predictions.levels[row, : len(path)].tolist(),
                top=[Candidate(label=name, probability=probability) for name, probability in top],
            )
        )
    return answers
