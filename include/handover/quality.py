"""Verification with Great Expectations: the suites in expectations/ plus Chinese custom expectations.

Each entity has one suite (``expectations/<entity>.json``). Every expectation carries ``meta.reason``,
the reason code a failing row gets in quarantine. At run time the suite keeps only the expectations whose
columns the contract maps, and the contract adds its own promises (``required``, ``format`` of extra
columns). The custom expectations below wrap the validators in `handover.validators`, so GX and the
domain package apply one rule, defined once.

GX puts offending values into its results by default. `validate_frame` asks for row indices, turns them
into reason codes, and returns a summary that holds counts only: no customer value leaves this module.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from handover import validators
from handover.contract import EntitySpec
from handover.errors import HandoverError

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
for _name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
    logging.getLogger(_name).setLevel(logging.ERROR)

SUITES_DIR = Path(os.environ.get("HANDOVER_EXPECTATIONS_DIR", Path(__file__).resolve().parents[2] / "expectations"))

# Reason codes given by the contract's own promises.
FORMAT_REASONS = {
    "resident_id": "invalid_resident_id", "uscc": "invalid_uscc", "bank_card": "invalid_bank_card",
    "mobile": "invalid_mobile", "landline": "invalid_landline", "email": "invalid_email",
    "gender": "invalid_gender", "currency": "invalid_currency", "country": "invalid_country",
}


@lru_cache(maxsize=1)
def _register_custom_expectations() -> dict[str, type]:
    """Define the custom expectations once per process (GX registers them by class name)."""
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation
    from great_expectations.expectations.metrics.map_metric_provider import (
        ColumnMapMetricProvider,
        ColumnPairMapMetricProvider,
        column_condition_partial,
        column_pair_condition_partial,
    )

    made: dict[str, type] = {}

    def format_expectation(fmt: str, camel: str) -> None:
        metric_name = f"column_values.handover_valid_{fmt}"

        def _pandas(cls, column, **kwargs):
            return validators.valid_mask(column, fmt)

        # GX registers a class by its name when the class is created, so the name is given up front.
        type(f"ColumnValuesHandoverValid{camel}", (ColumnMapMetricProvider,), {
            "condition_metric_name": metric_name,
            "_pandas": column_condition_partial(engine=PandasExecutionEngine)(_pandas),
        })
        name = f"ExpectColumnValuesToBeValid{camel}"
        made[name] = type(name, (ColumnMapExpectation,), {
            "__doc__": f"Values are valid by the {fmt} rule of handover.validators.",
            "map_metric": metric_name, "success_keys": ("mostly",),
        })

    for fmt, camel in (("resident_id", "ResidentId"), ("uscc", "Uscc"), ("bank_card", "BankCard"),
                       ("mobile", "MainlandMobile"), ("landline", "MainlandLandline"), ("email", "Email"),
                       ("gender", "Gender"), ("currency", "Currency"), ("country", "Country")):
        format_expectation(fmt, camel)

    from great_expectations.expectations.expectation import MulticolumnMapExpectation
    from great_expectations.expectations.metrics.map_metric_provider import (
        MulticolumnMapMetricProvider,
        multicolumn_condition_partial,
    )

    class DocumentNumberValid(ColumnPairMapMetricProvider):
        condition_metric_name = "column_pair_values.handover_document_number_valid"
        condition_domain_keys = ("column_A", "column_B", "ignore_row_if")

        @column_pair_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column_A, column_B, **kwargs):
            from handover import documents

            return pd.Series(documents.valid_numbers(column_A, column_B), index=column_A.index)

    class ExpectDocumentNumberToBeValidForItsType(ColumnPairMapExpectation):
        """Each identity-document number is valid by the rule of its document type (handover.documents);
        an unknown type is a failure, not a pass."""

        map_metric = "column_pair_values.handover_document_number_valid"
        ignore_row_if: str = "either_value_is_missing"
        success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")

    made["ExpectDocumentNumberToBeValidForItsType"] = ExpectDocumentNumberToBeValidForItsType

    class UsccAgrees(MulticolumnMapMetricProvider):
        condition_metric_name = "multicolumn_values.handover_uscc_agrees"
        condition_domain_keys = ("column_list", "ignore_row_if")

        @multicolumn_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column_list, **kwargs):
            kind, number, uscc = (column_list.iloc[:, i] for i in range(3))
            both = kind.eq("uscc").fillna(False) & number.notna() & uscc.notna()
            return ~both | (number == uscc)

    class ExpectUsccToAgreeWithDocumentNumber(MulticolumnMapExpectation):
        """Where the document type is USCC and the USCC column is filled too, they hold one code."""

        map_metric = "multicolumn_values.handover_uscc_agrees"
        ignore_row_if: str = "never"
        success_keys = ("column_list", "ignore_row_if", "mostly")

    made["ExpectUsccToAgreeWithDocumentNumber"] = ExpectUsccToAgreeWithDocumentNumber

    class NotScientific(ColumnMapMetricProvider):
        condition_metric_name = "column_values.handover_not_scientific_notation"

        @column_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column, **kwargs):
            return ~column.astype("string").str.fullmatch(r"[+-]?\d+(\.\d+)?[eE][+-]?\d+", na=False)

    class ExpectColumnValuesToNotBeScientificNotation(ColumnMapExpectation):
        """An ID that Excel turned into 4.40106E+17 lost its digits: flag it, never repair it."""

        map_metric = "column_values.handover_not_scientific_notation"
        success_keys = ("mostly",)

    made["ExpectColumnValuesToNotBeScientificNotation"] = ExpectColumnValuesToNotBeScientificNotation

    class SexAgrees(ColumnPairMapMetricProvider):
        condition_metric_name = "column_pair_values.handover_resident_id_sex_agrees"
        condition_domain_keys = ("column_A", "column_B", "ignore_row_if")

        @column_pair_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column_A, column_B, **kwargs):
            sex = validators.resident_id_sexes(column_A)
            return sex.isna() | column_B.isna() | (sex == column_B)

    class ExpectResidentIdSexToMatchGender(ColumnPairMapExpectation):
        """The 17th digit of a resident ID is odd for men: it must agree with the gender column."""

        map_metric = "column_pair_values.handover_resident_id_sex_agrees"
        ignore_row_if: str = "either_value_is_missing"
        success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")

    made["ExpectResidentIdSexToMatchGender"] = ExpectResidentIdSexToMatchGender

    class BirthAgrees(ColumnPairMapMetricProvider):
        condition_metric_name = "column_pair_values.handover_resident_id_birth_agrees"
        condition_domain_keys = ("column_A", "column_B", "ignore_row_if")

        @column_pair_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column_A, column_B, **kwargs):
            born = validators.resident_id_births(column_A)
            return born.isna() | column_B.isna() | (born == column_B)

    class ExpectResidentIdBirthDateToMatch(ColumnPairMapExpectation):
        """The birth date inside a resident ID must agree with the birth-date column."""

        map_metric = "column_pair_values.handover_resident_id_birth_agrees"
        ignore_row_if: str = "either_value_is_missing"
        success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")

    made["ExpectResidentIdBirthDateToMatch"] = ExpectResidentIdBirthDateToMatch
    return made


def load_suite(entity: str) -> dict:
    path = SUITES_DIR / f"{entity}.json"
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _columns_of(config: dict) -> list[str]:
    kwargs = config["kwargs"]
    return [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs] + \
        list(kwargs.get("column_list", []))


def suite_for(spec: EntitySpec) -> list[dict]:
    """The entity's suite, narrowed to the mapped columns, plus the contract's own promises."""
    present = {c.name for c in spec.columns}
    if "id_number" in present:
        present.add("id_type")  # verify derives it when the contract has none (see verify.normalise_frame)
    configs = [c for c in load_suite(spec.name)["expectations"]
               if set(_columns_of(c)) <= present and
               _condition_columns(c.get("kwargs", {}).get("row_condition")) <= present]
    stated = {(c["type"], tuple(_columns_of(c))) for c in configs}
    for col in spec.columns:
        if col.required and ("expect_column_values_to_not_be_null", (col.name,)) not in stated:
            configs.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": col.name},
                            "meta": {"reason": "missing_required", "from": "contract"}})
        if col.is_extra and col.format in FORMAT_REASONS:
            configs.append({"type": _format_expectation_type(col.format), "kwargs": {"column": col.name},
                            "meta": {"reason": FORMAT_REASONS[col.format], "from": "contract"}})
    return configs


def _condition_columns(cond: dict | None) -> set[str]:
    if not cond:
        return set()
    found = set()
    if isinstance(cond.get("column"), dict):
        found.add(cond["column"]["name"])
    for sub in cond.get("conditions", []) or []:
        found |= _condition_columns(sub)
    return found


def _format_expectation_type(fmt: str) -> str:
    camel = {"resident_id": "resident_id", "uscc": "uscc", "bank_card": "bank_card",
             "mobile": "mainland_mobile", "landline": "mainland_landline", "email": "email",
             "gender": "gender", "currency": "currency", "country": "country"}[fmt]
    return f"expect_column_values_to_be_valid_{camel}"


class QualityError(HandoverError):
    """An expectation could not be evaluated (as opposed to: rows failed it)."""


def _raised(info) -> bool:
    """GX reports errors flat or keyed by metric; look at every level."""
    if not isinstance(info, dict):
        return False
    if info.get("raised_exception") or info.get("exception_traceback"):
        return True
    return any(_raised(v) for v in info.values() if isinstance(v, dict))


@dataclass
class Verdict:
    """Reason codes of the rows that failed an expectation, by the column each failure is laid at (the
    expectation's ``meta.column``, else its column or first column) and row position (rows that passed are
    not listed); and a value-free summary of the validation."""

    cells: dict[str, dict[int, set[str]]]
    summary: list[dict]

    @property
    def reasons(self) -> dict[int, set[str]]:
        """Every row's reasons, whatever column they are laid at."""
        out: dict[int, set[str]] = {}
        for found in self.cells.values():
            for pos, codes in found.items():
                out.setdefault(pos, set()).update(codes)
        return out

    @property
    def success(self) -> bool:
        return all(item["success"] for item in self.summary)


class Validator:
    """One GX context per process; a suite per entity, built once."""

    def __init__(self) -> None:
        import great_expectations as gx

        _register_custom_expectations()
        # GX fingerprints (hashes) every frame under 1 GB for the batch markers of its results. Nothing
        # here reads them, and hashing a chunk costs as much as validating it.
        from great_expectations.execution_engine import pandas_execution_engine

        pandas_execution_engine.HASH_THRESHOLD = 0
        self._gx = gx
        self._context = gx.get_context(mode="ephemeral")
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars in task logs
        source = self._context.data_sources.add_pandas("handover")
        self._batches = source.add_dataframe_asset("chunk").add_batch_definition_whole_dataframe("whole")
        self._suites: dict[str, object] = {}

    def suite(self, spec: EntitySpec):
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        key = f"{spec.name}:{hash(spec.columns)}"
        if key not in self._suites:
            expectations = [ExpectationConfiguration(type=c["type"], kwargs=c["kwargs"], meta=c.get("meta"))
                            .to_domain_obj() for c in suite_for(spec)]
            self._suites[key] = self._gx.ExpectationSuite(name=spec.name, expectations=expectations)
        return self._suites[key]

    def validate_frame(self, spec: EntitySpec, frame: pd.DataFrame,
                       unparseable: dict[str, set[int]] | None = None) -> Verdict:
        """`unparseable`: positions per column whose value was present but could not be read as its type;
        they already carry ``unparseable_<type>``, so a null check on that column does not add
        ``missing_required`` to them."""
        frame = frame.reset_index(drop=True)
        unparseable = unparseable or {}
        with validators.remembering():  # for this frame only: several expectations check one ID column
            result = self._batches.get_batch(batch_parameters={"dataframe": frame}).validate(
                self.suite(spec), result_format={"result_format": "COMPLETE", "partial_unexpected_count": 0})
        cells: dict[str, dict[int, set[str]]] = {}
        summary = []
        for item in result.results:
            config = item.expectation_config
            if _raised(item.exception_info):
                # GX's message can quote a value: name the expectation and the column only.
                raise QualityError(f"expectation {config.type} on {', '.join(_columns_of({'kwargs': config.kwargs}))}"
                                   f" of {spec.name} could not be evaluated; the run cannot verify this chunk")
            meta = config.meta or {}
            reason = meta.get("reason", config.type)
            res = item.result or {}
            present = unparseable.get(config.kwargs.get("column"), set()) \
                if config.type == "expect_column_values_to_not_be_null" else set()
            column = meta.get("column") or _columns_of({"kwargs": config.kwargs})[0]
            failed = [pos for pos in map(int, res.get("unexpected_index_list") or []) if pos not in present]
            found = cells.setdefault(column, {})
            if meta.get("reasons_from") == "handover.documents" and failed:
                # one expectation, the reason of each number's own document type (invalid_passport, …)
                from handover import documents

                codes = documents.reasons_for(frame["id_number"].iloc[failed], frame["id_type"].iloc[failed])
                for pos, code in zip(failed, codes, strict=True):
                    found.setdefault(pos, set()).add(code or reason)
            else:
                for pos in failed:
                    found.setdefault(pos, set()).add(reason)
            summary.append({
                "expectation": config.type,
                "columns": _columns_of({"kwargs": config.kwargs}),
                "reason": reason,
                "success": bool(item.success),
                "evaluated": int(res.get("element_count", len(frame)) or 0),
                "unexpected": int(res.get("unexpected_count", 0) or 0),
            })
        return Verdict(cells=cells, summary=summary)
