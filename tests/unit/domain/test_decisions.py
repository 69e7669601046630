"""Reloader's decision step by step; ``item-N`` in a case id: a case of Reloader's e2e suite."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from reloader.core.annotations import AnnotationNames, SourceKind
from reloader.reload.domain.decisions import (
    Decision,
    DecisionOptions,
    DecisionReason,
    decide,
    explicit_match,
)
from reloader.reload.domain.views import SourceView, WorkloadView
from reloader.workloads.domain.kinds import KINDS

AUTO, AUTO_ALL, EXCLUDED, EXPLICIT, IGNORED, NOT_SELECTED, SEARCH, WORKLOAD_TYPE_IGNORED = (
    DecisionReason.AUTO,
    DecisionReason.AUTO_ALL,
    DecisionReason.EXCLUDED,
    DecisionReason.EXPLICIT,
    DecisionReason.IGNORED,
    DecisionReason.NOT_SELECTED,
    DecisionReason.SEARCH,
    DecisionReason.WORKLOAD_TYPE_IGNORED,
)
CM = SourceKind.CONFIGMAP
SECRET = SourceKind.SECRET
SPC = SourceKind.SECRETPROVIDERCLASS
N = AnnotationNames()

AUTO_KEY = N.auto
CM_RELOAD = N.configmap_reload
SECRET_RELOAD = N.secret_reload
SPC_RELOAD = N.spc_reload
CM_AUTO = N.configmap_auto
SECRET_AUTO = N.secret_auto
SPC_AUTO = N.spc_auto
SEARCH_KEY = N.search
MATCH = N.match
IGNORE = N.ignore
CM_EXCLUDE = N.configmap_exclude
SECRET_EXCLUDE = N.secret_exclude
SPC_EXCLUDE = N.spc_exclude


@dataclass
class Case:
    meta: dict[str, str] = field(default_factory=dict)
    template: dict[str, str] = field(default_factory=dict)
    kind: SourceKind = CM
    name: str = "cm"
    source_annotations: dict[str, str] = field(default_factory=dict)
    workload_kind: str = "Deployment"
    options: DecisionOptions = field(default_factory=DecisionOptions)


def run(case: Case) -> Decision:
    source = SourceView(
        kind=case.kind,
        namespace="ns",
        name=case.name,
        annotations=case.source_annotations,
        labels={},
        hash="h",
    )
    workload = WorkloadView(
        kind=case.workload_kind,
        namespace="ns",
        name="app",
        annotations=case.meta,
        template_annotations=case.template,
    )
    return decide(
        source=source,
        workload=workload,
        kind=KINDS[case.workload_kind],
        names=N,
        options=case.options,
    )


YES = (True, False)  # explicit: reload, not auto
AUTO_YES = (True, True)
NO = (False, False)


def p(case: Case, reload_auto: tuple[bool, bool], reason: str, id: str) -> Any:
    return pytest.param(case, reload_auto, reason, id=id)


CASES = [
    # ---- step 1: ignored workload types
    p(Case({AUTO_KEY: "true"}, workload_kind="Job", options=DecisionOptions(
        ignored_workload_types=frozenset({"jobs"}))), NO, WORKLOAD_TYPE_IGNORED,
      "1-job-ignored"),
    p(Case({AUTO_KEY: "true"}, workload_kind="CronJob", options=DecisionOptions(
        ignored_workload_types=frozenset({"jobs", "cronjobs"}))), NO, WORKLOAD_TYPE_IGNORED,
      "1-cronjob-ignored-item-108"),
    p(Case({CM_RELOAD: "cm"}, workload_kind="CronJob", options=DecisionOptions(
        ignored_workload_types=frozenset({"jobs"}))), YES, EXPLICIT,
      "1-cronjob-not-in-list"),
    p(Case({AUTO_KEY: "true"}, options=DecisionOptions(
        ignored_workload_types=frozenset({"jobs", "cronjobs"}))), AUTO_YES, AUTO,
      "1-deployment-never-ignored-item-107"),
    p(Case({AUTO_KEY: "true"}, workload_kind="Job", options=DecisionOptions(
        ignored_workload_types=frozenset({"jobs", "deployments"}))), AUTO_YES, AUTO,
      "1-any-invalid-entry-disables-the-check"),
    p(Case({AUTO_KEY: "true"}, workload_kind="Job", options=DecisionOptions(
        ignored_workload_types=frozenset({"Jobs"}))), AUTO_YES, AUTO,
      "1-entries-are-case-sensitive"),
    # ---- step 2: ignore on the source
    p(Case({CM_RELOAD: "cm"}, source_annotations={IGNORE: "true"}), NO, IGNORED,
      "2-source-ignore-beats-explicit-item-74"),
    p(Case({AUTO_KEY: "true"}, kind=SECRET, name="s", source_annotations={IGNORE: "true"}),
      NO, IGNORED, "2-secret-ignore-item-75"),
    p(Case({AUTO_KEY: "true"}, source_annotations={IGNORE: "True"}), AUTO_YES, AUTO,
      "2-ignore-needs-exact-true"),
    p(Case({AUTO_KEY: "true", IGNORE: "true"}), AUTO_YES, AUTO,
      "2-ignore-on-workload-has-no-effect"),
    # ---- steps 3/4: metadata, else pod template (presence-based, per source kind)
    p(Case(template={CM_RELOAD: "cm"}), YES, EXPLICIT, "4-cm-list-on-template-only-item-19"),
    p(Case(template={SECRET_RELOAD: "s"}, kind=SECRET, name="s"), YES, EXPLICIT,
      "4-secret-list-on-template-only-item-20"),
    p(Case(template={AUTO_KEY: "true"}), AUTO_YES, AUTO, "4-auto-on-template-only-item-21"),
    p(Case(template={SPC_RELOAD: "spc"}, kind=SPC, name="spc"), YES, EXPLICIT,
      "4-spc-list-on-template-only-item-22"),
    p(Case(template={SPC_AUTO: "true"}, kind=SPC, name="spc"), AUTO_YES, AUTO,
      "4-spc-auto-on-template-only-item-23"),
    p(Case({CM_RELOAD: "cm"}, template={CM_RELOAD: "cm"}), YES, EXPLICIT,
      "4-on-both-item-24"),
    p(Case({CM_RELOAD: "other"}, template={CM_RELOAD: "cm"}), NO, NOT_SELECTED,
      "4-metadata-presence-hides-the-template"),
    p(Case(template={CM_RELOAD: "cm"}, kind=SECRET, name="s"), NO, NOT_SELECTED,
      "4-cm-list-on-template-secret-changes-item-25"),
    p(Case({CM_RELOAD: "cm"}, template={AUTO_KEY: "true"}, kind=SECRET, name="s"),
      AUTO_YES, AUTO, "4-fallback-is-per-source-kind"),
    p(Case({CM_RELOAD: "other"}, template={AUTO_KEY: "true"}), NO, NOT_SELECTED,
      "4-same-kind-list-on-metadata-means-no-fallback"),
    p(Case({AUTO_KEY: "false"}, template={AUTO_KEY: "true"}), NO, NOT_SELECTED,
      "4-auto-false-on-metadata-wins"),
    p(Case({SEARCH_KEY: ""}, template={AUTO_KEY: "true"}), NO, NOT_SELECTED,
      "4-presence-not-value-empty-search"),
    p(Case({SECRET_AUTO: "true"}, template={CM_AUTO: "true"}), AUTO_YES, AUTO,
      "4-other-kinds-typed-auto-does-not-count-as-present"),
    p(Case(template={SEARCH_KEY: "true"}, source_annotations={MATCH: "true"}), AUTO_YES, SEARCH,
      "4-search-on-template-only-item-80"),
    # ---- step 5: exclude (metadata only, exact names, beats everything)
    p(Case({AUTO_KEY: "true", CM_EXCLUDE: "cm"}), NO, EXCLUDED, "5-excluded-item-64"),
    p(Case({AUTO_KEY: "true", CM_EXCLUDE: "cm1"}, name="cm2"), AUTO_YES, AUTO,
      "5-not-excluded-item-65"),
    p(Case({AUTO_KEY: "true", SECRET_EXCLUDE: "s"}, kind=SECRET, name="s"), NO, EXCLUDED,
      "5-secret-excluded-item-66"),
    p(Case({AUTO_KEY: "true", SPC_EXCLUDE: "spc"}, kind=SPC, name="spc"), NO, EXCLUDED,
      "5-spc-excluded-item-33-69"),
    p(Case({AUTO_KEY: "true", SPC_EXCLUDE: "spc1"}, kind=SPC, name="spc2"), AUTO_YES, AUTO,
      "5-spc-not-excluded-item-70"),
    p(Case({CM_RELOAD: "cm", CM_EXCLUDE: "cm"}), NO, EXCLUDED, "5-exclude-beats-explicit"),
    p(Case({SEARCH_KEY: "true", CM_EXCLUDE: "cm"}, source_annotations={MATCH: "true"}), NO,
      EXCLUDED, "5-exclude-beats-search"),
    p(Case({AUTO_KEY: "true", CM_EXCLUDE: " a , cm ,b"}), NO, EXCLUDED, "5-list-trimmed"),
    p(Case({AUTO_KEY: "true", CM_EXCLUDE: "c.*"}), AUTO_YES, AUTO, "5-exact-not-regex"),
    p(Case({AUTO_KEY: "true", CM_EXCLUDE: "s"}, kind=SECRET, name="s"), AUTO_YES, AUTO,
      "5-configmap-exclude-does-not-exclude-secrets"),
    p(Case({AUTO_KEY: "true"}, template={CM_EXCLUDE: "cm"}), AUTO_YES, AUTO,
      "5-exclude-on-template-is-not-read-item-68"),
    p(Case(template={AUTO_KEY: "true", CM_EXCLUDE: "cm"}), AUTO_YES, AUTO,
      "5-exclude-on-template-not-read-even-on-fallback"),
    p(Case({CM_EXCLUDE: "cm"}, template={AUTO_KEY: "true"}), NO, EXCLUDED,
      "5-metadata-exclude-applies-to-template-selection"),
    # ---- step 6: explicit list (anchored regexes)
    p(Case({CM_RELOAD: "cm"}), YES, EXPLICIT, "6-exact-name-item-1"),
    p(Case({CM_RELOAD: "cm1,cm2"}, name="cm2"), YES, EXPLICIT, "6-any-of-list-item-14-61"),
    p(Case({CM_RELOAD: " cm1 , cm2 "}, name="cm2"), YES, EXPLICIT, "6-elements-trimmed"),
    p(Case({CM_RELOAD: "app-config-.*"}, name="app-config-1"), YES, EXPLICIT,
      "6-regex-item-91"),
    p(Case({CM_RELOAD: "app-config-.*"}, name="other-config"), NO, NOT_SELECTED,
      "6-regex-no-match-item-92"),
    p(Case({SECRET_RELOAD: "app-secret-.*"}, kind=SECRET, name="app-secret-x"), YES, EXPLICIT,
      "6-secret-regex-item-93"),
    p(Case({CM_RELOAD: "app"}, name="my-app-x"), NO, NOT_SELECTED, "6-anchored-both-ends"),
    p(Case({CM_RELOAD: "a|b"}, name="ax"), NO, NOT_SELECTED, "6-alternation-anchored-as-whole"),
    p(Case({CM_RELOAD: "a|b"}, name="b"), YES, EXPLICIT, "6-alternation-matches"),
    p(Case({CM_RELOAD: "my.cm"}, name="my-cm"), YES, EXPLICIT, "6-dot-is-a-metacharacter"),
    p(Case({CM_RELOAD: "cm"}, kind=SECRET, name="cm"), NO, NOT_SELECTED,
      "6-list-is-type-specific"),
    p(Case({CM_RELOAD: "cm", AUTO_KEY: "false"}), YES, EXPLICIT,
      "6-explicit-despite-auto-false"),
    p(Case({CM_RELOAD: "", AUTO_KEY: "false"}, name=""), NO, NOT_SELECTED,
      "6-empty-list-matches-no-name"),
    p(Case({CM_RELOAD: "cm", SECRET_RELOAD: "s"}, kind=SECRET, name="s"), YES, EXPLICIT,
      "6-both-lists-secret-changes-item-63"),
    # ---- step 7: search + match
    p(Case({SEARCH_KEY: "true"}, source_annotations={MATCH: "true"}), AUTO_YES, SEARCH,
      "7-search-and-match-item-76"),
    p(Case({SEARCH_KEY: "true"}), NO, NOT_SELECTED, "7-search-without-match-item-77"),
    p(Case(source_annotations={MATCH: "true"}), NO, NOT_SELECTED,
      "7-match-without-search-item-78"),
    p(Case({SEARCH_KEY: "True"}, source_annotations={MATCH: "true"}), NO, NOT_SELECTED,
      "7-search-needs-exact-true"),
    p(Case({SEARCH_KEY: "true"}, source_annotations={MATCH: "1"}), NO, NOT_SELECTED,
      "7-match-needs-exact-true"),
    # ---- step 8: auto and typed auto (ParseBool)
    p(Case({AUTO_KEY: "true"}), AUTO_YES, AUTO, "8-auto-item-4"),
    p(Case({AUTO_KEY: "true"}, kind=SECRET, name="s"), AUTO_YES, AUTO, "8-auto-secret-item-47"),
    p(Case({AUTO_KEY: "true"}, kind=SPC, name="spc"), AUTO_YES, AUTO, "8-auto-spc-item-53"),
    p(Case({AUTO_KEY: "1"}), AUTO_YES, AUTO, "8-auto-1"),
    p(Case({AUTO_KEY: "T"}), AUTO_YES, AUTO, "8-auto-T"),
    p(Case({AUTO_KEY: "false"}), NO, NOT_SELECTED, "8-auto-false-item-18"),
    p(Case({CM_AUTO: "true"}), AUTO_YES, AUTO, "8-typed-cm-auto-item-49"),
    p(Case({CM_AUTO: "true"}, kind=SECRET, name="s"), NO, NOT_SELECTED,
      "8-typed-cm-auto-ignores-secrets"),
    p(Case({SECRET_AUTO: "true"}, kind=SECRET, name="s"), AUTO_YES, AUTO,
      "8-typed-secret-auto-item-50"),
    p(Case({SECRET_AUTO: "true"}), NO, NOT_SELECTED, "8-typed-secret-auto-ignores-configmaps"),
    p(Case({SPC_AUTO: "true"}, kind=SPC, name="spc"), AUTO_YES, AUTO,
      "8-typed-spc-auto-item-51"),
    p(Case({SPC_AUTO: "true"}), NO, NOT_SELECTED, "8-typed-spc-auto-ignores-configmaps-item-52"),
    p(Case({AUTO_KEY: "false", CM_AUTO: "true"}), AUTO_YES, AUTO, "8-either-auto-suffices"),
    p(Case({AUTO_KEY: "true", CM_RELOAD: "cm1"}, name="cm2"), AUTO_YES, AUTO,
      "8-auto-plus-explicit-auto-detected-item-54"),
    # ---- step 9: --auto-reload-all
    p(Case(options=DecisionOptions(auto_reload_all=True)), AUTO_YES, AUTO_ALL,
      "9-no-annotations-item-100"),
    p(Case({AUTO_KEY: "false"}, options=DecisionOptions(auto_reload_all=True)), NO,
      NOT_SELECTED, "9-auto-false-opts-out-item-101"),
    p(Case({CM_AUTO: "false"}, options=DecisionOptions(auto_reload_all=True)), NO,
      NOT_SELECTED, "9-typed-auto-false-opts-out"),
    p(Case({AUTO_KEY: "yes"}, options=DecisionOptions(auto_reload_all=True)), NO,
      NOT_SELECTED, "9-unparsable-opts-out"),
    p(Case({AUTO_KEY: ""}, options=DecisionOptions(auto_reload_all=True)), AUTO_YES, AUTO_ALL,
      "9-empty-counts-as-absent"),
    p(Case({SECRET_AUTO: "false"}, options=DecisionOptions(auto_reload_all=True)), AUTO_YES,
      AUTO_ALL, "9-other-kinds-typed-auto-does-not-opt-out"),
    p(Case({CM_RELOAD: "other"}, options=DecisionOptions(auto_reload_all=True)), AUTO_YES,
      AUTO_ALL, "9-unmatched-explicit-list-still-auto-all"),
    # ---- step 10
    p(Case(), NO, NOT_SELECTED, "10-no-annotation-item-13"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "reload_auto", "reason"), CASES)
def test_decide(case: Case, reload_auto: tuple[bool, bool], reason: str) -> None:
    decision = run(case)
    assert (decision.reload, decision.auto) == reload_auto
    assert decision.reason == reason


@pytest.mark.parametrize(
    ("case", "warning"),
    [
        pytest.param(
            Case({CM_RELOAD: "a[,cm"}),
            f'annotation {CM_RELOAD}: invalid regex "a[": ',
            id="invalid-regex",
        ),
        pytest.param(
            Case({AUTO_KEY: "yes"}),
            f'annotation {AUTO_KEY}: invalid boolean "yes" (treated as false)',
            id="invalid-auto",
        ),
        pytest.param(
            Case({CM_AUTO: "enabled"}),
            f'annotation {CM_AUTO}: invalid boolean "enabled" (treated as false)',
            id="invalid-typed-auto",
        ),
        pytest.param(
            Case(template={AUTO_KEY: "on"}),
            f'pod template annotation {AUTO_KEY}: invalid boolean "on" (treated as false)',
            id="invalid-auto-on-template",
        ),
    ],
)
def test_bad_values_become_warnings_naming_key_and_value(case: Case, warning: str) -> None:
    decision = run(case)
    assert any(w.startswith(warning) for w in decision.warnings), decision.warnings


def test_invalid_regex_is_skipped_and_later_elements_still_match() -> None:
    decision = run(Case({CM_RELOAD: "a[, (b ,cm"}))
    assert (decision.reload, decision.reason) == (True, EXPLICIT)
    assert len(decision.warnings) == 2
    assert '"a["' in decision.warnings[0]
    assert '"(b"' in decision.warnings[1]


def test_only_invalid_regexes_select_nothing() -> None:
    decision = run(Case({CM_RELOAD: "cm["}, name="cm["))
    assert decision.reload is False
    assert decision.warnings


def test_warnings_do_not_depend_on_which_step_decides() -> None:
    explicit = run(Case({CM_RELOAD: "cm", AUTO_KEY: "yes"}))
    excluded = run(Case({CM_RELOAD: "cm", AUTO_KEY: "yes", CM_EXCLUDE: "cm"}))
    assert explicit.reload is True
    assert excluded.reload is False
    assert explicit.warnings == excluded.warnings
    assert len(explicit.warnings) == 1


def test_empty_auto_value_is_not_warned_about() -> None:
    assert run(Case({AUTO_KEY: ""})).warnings == ()


def test_renamed_keys_are_honoured() -> None:
    names = AnnotationNames(auto="example.com/auto")
    decision = decide(
        source=SourceView(CM, "ns", "cm", {}, {}, "h"),
        workload=WorkloadView("Deployment", "ns", "app", annotations={"example.com/auto": "t"}),
        kind=KINDS["Deployment"],
        names=names,
        options=DecisionOptions(),
    )
    assert (decision.reload, decision.reason) == (True, AUTO)


@pytest.mark.parametrize(
    ("value", "name", "matched"),
    [
        pytest.param("x,cm", "cm", True, id="second-element"),
        pytest.param("cm.*", "cm", True, id="star-matches-empty"),
        pytest.param("CM", "cm", False, id="case-sensitive"),
        pytest.param("cm\\d+", "cm12", True, id="escape-class"),
        pytest.param("", "", False, id="empty-list-never-matches"),
    ],
)
def test_explicit_match(value: str, name: str, matched: bool) -> None:
    assert explicit_match(value, name, key="k") == (matched, ())
