"""LoggingPipeline with existing Secrets, and changes to a running pipeline.

The mock engine plays the stack's last deployment (`state=`: what the engine's
readStackResourceOutputs returns), so these tests drive the same read, check and carry-forward
code that runs under the real engine; `make e2e` applies the changes to a live pipeline.
"""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.config import quantity
from tools.offline.engine import run
from components.errors import ConfigError
from components.logging import LoggingPipeline, elasticsearch, kafka, upgrades
from components.logging.config import parse_logging

NAME = "logging"
EXISTING = {
    "elastic": "es-admin",
    "kibana_system": "kibana-user",
    "logstash_writer": "logstash-user",
    "kibana_encryption_keys": "kibana-keys",
    "certificates": "es-tls",
}
SMALL = {
    "kafka": {"brokers": 1, "replication_factor": 1, "min_insync_replicas": 1, "partitions": 2, "storage": "5Gi"},
    "logstash": {"replicas": 1, "consumer_threads": 2, "queue_max_bytes": "512Mi", "queue_storage": "1Gi"},
    "elasticsearch": {"nodes": 1, "index_replicas": 0, "storage": "10Gi"},
}


def pipeline(args: dict, state: dict | None = None, raise_errors: bool = True):
    return run(lambda: LoggingPipeline(NAME, args), state=state, raise_errors=raise_errors)


def state_after(result, before: dict) -> dict:
    """The state after `result`'s up as the engine keeps it: a path under ignore_changes keeps its value from `before`."""
    state = result.state()
    for reg in result.registrations:
        old = (before.get(reg.urn) or {}).get("outputs")
        for path in reg.ignore_changes if old else []:
            *parents, leaf = path.split(".")
            new_obj, old_obj = state[reg.urn]["outputs"], old
            for key in parents:
                new_obj, old_obj = new_obj[key], old_obj[key]
            new_obj[leaf] = old_obj[leaf]
    return state


def merged(base: dict, **parts: dict) -> dict:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in parts.items():
        out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) else value
    return out


def kinds(result, kind: str) -> dict[str, dict]:
    """Registrations of a kind; a patch resource sends the patched kind, so patches are told by their type."""
    if kind.endswith("Patch"):
        return {r.name: r for r in result.registrations if r.type.endswith(f":{kind}")}
    return {r.name: r for r in result.registrations if r.inputs.get("kind") == kind}


# -- existing Secrets ----------------------------------------------------------------------------


def test_existing_secrets_replace_every_generated_credential():
    result = pipeline({"existing_secrets": EXISTING})
    types = {r.type for r in result.registrations}
    assert not {t for t in types if t.startswith(("random:", "tls:"))}, "nothing to generate"
    assert kinds(result, "Secret") == {}, "the component creates no Secret of its own"
    referenced = set()
    for reg in result.registrations:
        if reg.inputs.get("kind") not in ("StatefulSet", "Deployment", "Job", "DaemonSet"):
            continue
        pod = reg.inputs["spec"]["template"]["spec"]
        referenced |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        for c in pod.get("initContainers", []) + pod["containers"]:
            referenced |= {e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    assert referenced == set(EXISTING.values())


def test_clients_get_only_the_ca_of_an_existing_certificate_secret():
    result = pipeline({"existing_secrets": EXISTING})
    for name in ("logging-kibana-deployment", "logging-logstash-stateful-set", "logging-elasticsearch-setup-job"):
        reg = next(r for r in result.registrations if r.name == name)
        (ca,) = [v for v in reg.inputs["spec"]["template"]["spec"]["volumes"] if v.get("secret", {}).get("secretName") == "es-tls"]
        assert ca["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}], name
    es = next(r for r in result.registrations if r.name == "logging-elasticsearch-stateful-set")
    (certs,) = [v for v in es.inputs["spec"]["template"]["spec"]["volumes"] if v["name"] == "certs"]
    assert certs["secret"]["secretName"] == "es-tls" and "items" not in certs["secret"], "the server mounts key, certificate and CA"


def test_unset_credentials_are_still_generated():
    result = pipeline({"existing_secrets": {"certificates": "es-tls"}})
    assert len([r for r in result.registrations if r.type == "random:index/randomPassword:RandomPassword"]) == 5
    assert not [r for r in result.registrations if r.type.startswith("tls:")]
    names = {r.inputs["metadata"]["name"] for r in kinds(result, "Secret").values()}
    assert names == {"elasticsearch-elastic", "kibana-elasticsearch", "logstash-elasticsearch", "kibana-encryption-keys"}


@pytest.mark.parametrize(
    ("existing", "key"),
    [
        ({"elastic": "Bad_Name"}, "existing_secrets.elastic"),
        ({"certificates": "-tls"}, "existing_secrets.certificates"),
        ({"elastic": "shared", "logstash_writer": "shared"}, "existing_secrets.logstash_writer"),
    ],
)
def test_a_bad_secret_reference_is_refused_naming_the_key(existing, key):
    result = pipeline({"existing_secrets": existing}, raise_errors=False)
    assert isinstance(result.error, ConfigError) and key in str(result.error)
    assert result.registrations == []


# -- reading what the stack deployed -------------------------------------------------------------


@pytest.fixture(scope="module")
def small_state() -> dict:
    return pipeline(SMALL).state()


def test_the_deployed_shape_is_read_from_the_stacks_state(small_state):
    found = upgrades.deployed(small_state, NAME)
    assert found.namespace == "logging"
    assert found.replicas == {"kafka": 1, "logstash": 1, "elasticsearch": 1}
    assert found.template_storage == found.volume_storage == {"kafka": "5Gi", "logstash": "1Gi", "elasticsearch": "10Gi"}
    assert found.kafka_partitions == 2 and found.initial_masters == ["elasticsearch-0"] and not found.single_node_discovery
    assert upgrades.deployed(small_state, "other") is None, "another pipeline's resources are not this one's"
    assert upgrades.deployed({}, NAME) is None


def test_the_recorded_facts_sit_on_the_stateful_sets_own_metadata_which_restarts_no_pod():
    """A change of partitions alone changes the Kafka StatefulSet's annotation, never its claim templates (which would
    replace it); the pod template changes only through the config checksum, as before."""
    before, after = pipeline(SMALL), pipeline(merged(SMALL, kafka={"partitions": 4}))
    old, new = _kafka_set(before), _kafka_set(after)
    assert old["metadata"]["annotations"][kafka.PARTITIONS_ANNOTATION] == "2" and new["metadata"]["annotations"][kafka.PARTITIONS_ANNOTATION] == "4"
    assert old["spec"]["volumeClaimTemplates"] == new["spec"]["volumeClaimTemplates"]
    for result in (before, after):
        for sts in kinds(result, "StatefulSet").values():
            assert set(sts.inputs["spec"]["template"]["metadata"]["annotations"]) == {"checksum/config"}, sts.name
            assert not set(upgrades.RECORDED.get(sts.inputs["metadata"]["name"], {})) - set(sts.inputs["metadata"].get("annotations", {}))


@settings(max_examples=12, deadline=None)
@given(
    brokers=st.sampled_from([1, 3, 5]),
    partitions=st.integers(3, 40),
    nodes=st.sampled_from([1, 3, 5]),
    storage=st.sampled_from(["5Gi", "20Gi"]),
    storage_class=st.sampled_from([None, "fast"]),
)
def test_what_the_component_records_is_what_the_next_up_reads(brokers, partitions, nodes, storage, storage_class):
    rf = min(brokers, 3)
    args = merged(
        SMALL,
        kafka={"brokers": brokers, "replication_factor": rf, "min_insync_replicas": max(1, rf - 1), "partitions": partitions, "storage": storage},
        elasticsearch={"nodes": nodes, "index_replicas": min(1, nodes - 1), "storage": storage},
        **({"storage_class": storage_class} if storage_class else {}),
    )
    found = upgrades.deployed(pipeline(args).state(), NAME)
    assert (found.kafka_partitions, found.kafka_voters) == (partitions, 3 if brokers >= 3 else 1)
    assert found.replicas == {"kafka": brokers, "logstash": 1, "elasticsearch": nodes}
    assert found.initial_masters == [f"elasticsearch-{i}" for i in range(nodes)] and not found.single_node_discovery
    assert found.template_storage["kafka"] == found.template_storage["elasticsearch"] == storage
    assert set(found.storage_class.values()) == {storage_class}


def test_an_unchanged_pipeline_registers_the_same_objects(small_state):
    again = pipeline(SMALL, state=small_state)
    first = pipeline(SMALL)
    assert sorted((r.name, repr(r.inputs)) for r in again.registrations) == sorted((r.name, repr(r.inputs)) for r in first.registrations)


# -- refused changes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key", "says"),
    [
        ({"kafka": {"partitions": 1}, "logstash": {"consumer_threads": 1}}, "kafka.partitions", "cannot remove partitions"),
        ({"kafka": {"storage": "4Gi"}}, "kafka.storage", "cannot shrink"),
        ({"logstash": {"queue_storage": "900Mi", "queue_max_bytes": "512Mi"}}, "logstash.queue_storage", "cannot shrink"),
        ({"namespace": "logs"}, "namespace", "delete that namespace"),
        ({"storage_class": "fast"}, "storage_class", "cannot move"),
    ],
)
def test_a_change_that_would_lose_data_is_refused_before_anything_is_registered(small_state, change, key, says):
    result = pipeline(merged(SMALL, **change), state=small_state, raise_errors=False)
    assert isinstance(result.error, ConfigError), result.error
    assert result.error.key == key and says in str(result.error)
    assert result.registrations == []


def test_fewer_elasticsearch_nodes_need_a_confirmation_after_the_procedure():
    three = merged(SMALL, elasticsearch={"nodes": 3, "index_replicas": 1})
    state = pipeline(three).state()
    refused = pipeline(SMALL, state=state, raise_errors=False)
    assert isinstance(refused.error, ConfigError) and refused.error.key == "elasticsearch.nodes"
    assert "voting_config_exclusions" in str(refused.error) and "confirm_changes" in str(refused.error)
    confirmed = pipeline({**SMALL, "confirm_changes": ["elasticsearch.nodes"]}, state=state)
    (sts,) = [r for r in confirmed.registrations if r.name == "logging-elasticsearch-stateful-set"]
    assert sts.inputs["spec"]["replicas"] == 1


def test_only_documented_changes_can_be_confirmed():
    with pytest.raises(ConfigError) as err:
        parse_logging({"confirm_changes": ["kafka.partitions"]}, NAME)
    assert "confirm_changes" in str(err.value) and "elasticsearch.nodes" in str(err.value) and "kafka.brokers" in str(err.value)


def _kafka_set(result):
    (sts,) = [r for r in result.registrations if r.name == "logging-kafka-stateful-set"]
    return sts.inputs


def _kafka_files(result):
    (config,) = [r for r in result.registrations if r.name == "logging-kafka-config"]
    return config.inputs["data"]


def test_kafka_grows_in_place_keeping_the_quorum_it_was_formed_with(small_state):
    three = merged(SMALL, kafka={"brokers": 3, "replication_factor": 3, "min_insync_replicas": 2})
    grown = pipeline(three, state=small_state)
    sts = _kafka_set(grown)
    assert sts["spec"]["replicas"] == 3 and sts["metadata"]["annotations"]["gosvc.dev/kafka-controllers"] == "1"
    assert "controller.quorum.voters=0@kafka-0.kafka-headless.logging.svc.cluster.local:9093\n" in _kafka_files(grown)["server.properties"]
    assert 'if [ "$ordinal" -lt 1 ]' in _kafka_files(grown)["start.sh"], "kafka-1 and kafka-2 join as brokers only"
    five = pipeline(merged(three, kafka={"brokers": 5}), state=state_after(grown, small_state))
    assert _kafka_set(five)["spec"]["replicas"] == 5 and _kafka_set(five)["metadata"]["annotations"]["gosvc.dev/kafka-controllers"] == "1"
    new = pipeline(merged(three, kafka={"brokers": 5}))
    assert _kafka_set(new)["metadata"]["annotations"]["gosvc.dev/kafka-controllers"] == "3", "a new cluster of five runs three controllers"


def _stateful_set_in(state: dict, app: str) -> dict:
    (outputs,) = [e["outputs"] for e in state.values() if e["type"] == upgrades.STATEFUL_SET and e["outputs"]["metadata"]["name"] == app]
    return outputs


@pytest.mark.parametrize(("app", "annotation"), [(part, key) for part, keys in upgrades.RECORDED.items() for key in keys])
def test_a_pipeline_deployed_before_its_annotations_is_refused_naming_them(small_state, app, annotation):
    """No released version lacked them, so a state without them is refused with the procedure, never guessed at."""
    state = copy.deepcopy(small_state)
    del _stateful_set_in(state, app)["metadata"]["annotations"][annotation]
    refused = pipeline(SMALL, state=state, raise_errors=False)
    assert isinstance(refused.error, upgrades.DeployedStateError) and refused.registrations == []
    message = str(refused.error)
    assert f"StatefulSet '{app}' without the annotation(s) {annotation}," in message
    assert upgrades.RECORDED[app][annotation] in message and f"kubectl annotate -n logging statefulset {app}" in message
    # Annotated by hand and refreshed into the state, the pipeline updates as before.
    _stateful_set_in(state, app)["metadata"]["annotations"][annotation] = _stateful_set_in(small_state, app)["metadata"]["annotations"][annotation]
    assert upgrades.deployed(state, NAME) == upgrades.deployed(small_state, NAME)


def test_a_part_in_the_state_without_its_stateful_set_is_an_error_not_a_new_pipeline(small_state):
    """A renamed role (or a lost entry) must not read as 'nothing deployed', which would skip every data-loss check."""
    state = {urn: entry for urn, entry in small_state.items() if not urn.endswith("::logging-kafka-stateful-set")}
    with pytest.raises(upgrades.DeployedStateError) as err:
        upgrades.deployed(state, NAME)
    assert "holds its part" in str(err.value) and "'logging-kafka-stateful-set' (kubernetes:apps/v1:StatefulSet)" in str(err.value)
    assert "gosvc:index:Kafka::logging-kafka" in str(err.value), "names the part it found"


def test_only_structured_fields_are_read_back(small_state):
    """The config files the pipeline ships are never parsed back out of the state."""
    state = copy.deepcopy(small_state)
    for entry in state.values():
        if entry["type"] == "kubernetes:core/v1:ConfigMap":
            entry["outputs"]["data"] = {key: "not what was deployed" for key in entry["outputs"]["data"]}
    assert upgrades.deployed(state, NAME) == upgrades.deployed(small_state, NAME)


def as_the_engine_names_them(result, above: str = "") -> dict:
    """`result`'s state with URNs as the real engine forms them: a child's type qualified by its parent's whole chain
    (the mock keeps only the parent's own type), under components of type `above` when given."""
    by_urn = {r.urn: r for r in result.registrations}

    def qualified(r) -> str:
        parent = by_urn.get(r.parent)
        return f"{qualified(parent)}${r.type}" if parent else f"{above}{r.type}"

    return {f"urn:pulumi:test::gosvc::{qualified(r)}::{r.name}": {"type": r.type, "outputs": r.outputs} for r in result.registrations}


@pytest.mark.parametrize("above", ["", "acme:index:Platform$", "acme:index:Platform$acme:index:Region$"])
def test_the_pipeline_is_found_in_any_parent_chain(above):
    result = pipeline(SMALL)
    assert upgrades.deployed(as_the_engine_names_them(result, above), NAME) == upgrades.deployed(result.state(), NAME) is not None


def test_two_pipelines_of_one_name_in_the_state_are_an_error():
    result = pipeline(SMALL)
    state = {**as_the_engine_names_them(result, "acme:index:A$"), **as_the_engine_names_them(result, "acme:index:B$")}
    with pytest.raises(upgrades.DeployedStateError, match="a name of its own"):
        upgrades.deployed(state, NAME)


def test_fewer_kafka_brokers_need_replicas_moved_off_and_a_confirmation():
    five = merged(SMALL, kafka={"brokers": 5, "replication_factor": 3, "min_insync_replicas": 2})
    state = pipeline(five).state()
    three = merged(five, kafka={"brokers": 3})
    refused = pipeline(three, state=state, raise_errors=False)
    assert isinstance(refused.error, ConfigError) and refused.error.key == "kafka.brokers" and refused.registrations == []
    message = str(refused.error)
    assert "brokers 3,4 would leave" in message and "--broker-list 0,1,2" in message and "confirm_changes" in message
    below = pipeline(merged(five, kafka={"brokers": 2, "replication_factor": 2, "min_insync_replicas": 1}, confirm_changes=["kafka.brokers"]), state=state, raise_errors=False)
    assert "cannot run on fewer than 3 brokers" in str(below.error)
    confirmed = pipeline({**three, "confirm_changes": ["kafka.brokers"]}, state=state)
    assert _kafka_set(confirmed)["spec"]["replicas"] == 3


# -- changes carried safely ----------------------------------------------------------------------


def test_stateful_sets_never_change_their_claim_templates():
    result = pipeline(SMALL)
    sets = kinds(result, "StatefulSet")
    assert len(sets) == 3 and all(r.ignore_changes == ["spec.volumeClaimTemplates"] for r in sets.values())


def test_larger_volumes_grow_through_one_claim_patch_per_replica(small_state):
    grown = merged(SMALL, kafka={"storage": "8Gi"})
    result = pipeline(grown, state=small_state)
    patches = kinds(result, "PersistentVolumeClaimPatch")
    assert {r.inputs["metadata"]["name"] for r in patches.values()} == {"data-kafka-0"}
    (patch,) = patches.values()
    assert patch.inputs["spec"] == {"resources": {"requests": {"storage": "8Gi"}}}
    assert patch.inputs["metadata"]["annotations"] == {"pulumi.com/patchForce": "true"}
    assert patch.retain_on_delete is True, "dropping the patch must leave the claim alone"
    (sts,) = [r for r in result.registrations if r.name == "logging-kafka-stateful-set"]
    assert sts.urn in patch.dependencies, "the claims exist once the StatefulSet is ready"
    # The next run reads the grown size back: shrinking to the template's size is now refused.
    state = state_after(result, small_state)
    after = upgrades.deployed(state, NAME)
    assert after.template_storage["kafka"] == "5Gi" and after.volume_storage["kafka"] == "8Gi"
    assert set(kinds(pipeline(grown, state=state), "PersistentVolumeClaimPatch")) == set(patches), "the same patch, run after run"
    refused = pipeline(SMALL, state=state, raise_errors=False)
    assert isinstance(refused.error, ConfigError) and "hold 8Gi" in str(refused.error)


def test_new_replicas_of_a_grown_part_get_their_patch_too(small_state):
    grown = merged(SMALL, logstash={"replicas": 3, "queue_storage": "2Gi"})
    patches = kinds(pipeline(grown, state=small_state), "PersistentVolumeClaimPatch")
    assert {r.inputs["metadata"]["name"] for r in patches.values()} == {"data-logstash-0", "data-logstash-1", "data-logstash-2"}


def es_files(result) -> dict:
    (cm,) = [r for r in result.registrations if r.name == "logging-elasticsearch-config"]
    return dict(cm.inputs["data"])


def es_config(result) -> dict:
    return yaml.safe_load(es_files(result)["elasticsearch.yml"])


def bootstrap_set(result) -> list[str]:
    """The ConfigMap's bootstrap set, which only a node whose volume never joined a cluster applies."""
    return (yaml.safe_load(es_files(result).get("bootstrap.yml") or "") or {}).get("cluster.initial_master_nodes", [])


def test_new_elasticsearch_nodes_join_the_running_cluster_instead_of_bootstrapping_one(small_state):
    three = merged(SMALL, elasticsearch={"nodes": 3, "index_replicas": 1})
    assert bootstrap_set(pipeline(three)) == ["elasticsearch-0", "elasticsearch-1", "elasticsearch-2"]
    assert "cluster.initial_master_nodes" not in es_config(pipeline(three))
    grown_from_one = pipeline(three, state=small_state)
    assert bootstrap_set(grown_from_one) == ["elasticsearch-0"], "the set node 0 formed with: nodes 1 and 2 cannot bootstrap from it"
    assert len(es_config(grown_from_one)["discovery.seed_hosts"]) == 3
    five = merged(SMALL, elasticsearch={"nodes": 5, "index_replicas": 1})
    grown_from_three = pipeline(five, state=pipeline(three).state())
    assert bootstrap_set(grown_from_three) == ["elasticsearch-0", "elasticsearch-1", "elasticsearch-2"]


def _with_es_annotations(state: dict, **values: str) -> dict:
    """`state` with the Elasticsearch StatefulSet's recorded facts replaced (as `kubectl annotate` and a refresh would)."""
    keys = {"masters": elasticsearch.INITIAL_MASTERS_ANNOTATION, "discovery": elasticsearch.DISCOVERY_ANNOTATION}
    annotations = _stateful_set_in(state, "elasticsearch")["metadata"]["annotations"]
    annotations.update({keys[key]: value for key, value in values.items()})
    return state


def es_annotations(result) -> dict:
    (sts,) = [r for r in result.registrations if r.name == "logging-elasticsearch-stateful-set"]
    return sts.inputs["metadata"]["annotations"]


def test_a_one_node_cluster_formed_with_single_node_discovery_grows_only_after_it_restarted_as_a_cluster_of_one(small_state):
    """Such a cluster (formed before gosvc stopped generating discovery.type single-node) records it, with no bootstrap set."""
    old = _with_es_annotations(copy.deepcopy(small_state), masters="", discovery="single-node")
    assert upgrades.deployed(old, NAME).single_node_discovery and upgrades.deployed(old, NAME).initial_masters == []
    three = merged(SMALL, elasticsearch={"nodes": 3, "index_replicas": 1})
    refused = pipeline(three, state=old, raise_errors=False)
    assert "elasticsearch.nodes" in str(refused.error) and "first apply this version with elasticsearch.nodes 1" in str(refused.error)
    assert not refused.registrations, "a refused change registers nothing"
    restarted = pipeline(SMALL, state=old)
    assert "discovery.type" not in es_config(restarted) and bootstrap_set(restarted) == [], "formed already: no set"
    assert es_annotations(restarted) == {elasticsearch.INITIAL_MASTERS_ANNOTATION: "", elasticsearch.DISCOVERY_ANNOTATION: "multi-node"}
    assert bootstrap_set(pipeline(three, state=restarted.state())) == []


def test_a_running_clusters_recorded_bootstrap_set_is_kept():
    three = merged(SMALL, elasticsearch={"nodes": 3, "index_replicas": 1})
    state = _with_es_annotations(pipeline(three).state(), masters="elasticsearch-0,elasticsearch-1")
    assert upgrades.deployed(state, NAME).initial_masters == ["elasticsearch-0", "elasticsearch-1"]
    again = pipeline(three, state=state)
    assert bootstrap_set(again) == ["elasticsearch-0", "elasticsearch-1"]
    assert es_annotations(again)[elasticsearch.INITIAL_MASTERS_ANNOTATION] == "elasticsearch-0,elasticsearch-1"


SIZES = st.sampled_from(["1Gi", "2Gi", "5Gi", "8Gi", "10Gi", "20Gi", "50Gi"])


@settings(max_examples=40, deadline=None)
@given(kafka=SIZES, logstash=st.sampled_from(["2Gi", "4Gi", "8Gi"]), es=SIZES)
def test_storage_outcome_follows_the_sizes(small_state, kafka, logstash, es):
    """For any new sizes: smaller than deployed is refused, larger gets patches, equal changes nothing."""
    spec = parse_logging(merged(SMALL, kafka={"storage": kafka}, logstash={"queue_storage": logstash}, elasticsearch={"storage": es}), NAME)
    previous = upgrades.deployed(small_state, NAME)
    wanted = {"kafka": kafka, "logstash": logstash, "elasticsearch": es}
    shrinks = [part for part, size in wanted.items() if quantity(size) < quantity(previous.volume_storage[part])]
    if shrinks:
        with pytest.raises(ConfigError) as err:
            upgrades.check(previous, spec)
        assert err.value.key == upgrades.STORAGE_KEY[shrinks[0]]
        return
    upgrades.check(previous, spec)
    grows = {part for part, size in wanted.items() if quantity(size) > quantity(previous.volume_storage[part])}
    assert set(upgrades.volume_patches(previous, spec)) == grows


def test_the_program_refuses_before_registering_even_the_service(monkeypatch):
    """__main__.py creates the pipeline first, so a refused change leaves the service untouched too."""
    import runpy

    from tools.offline import engine
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    values = engine.stack_config(ROOT, "dev")
    program = lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")  # noqa: E731
    first = run(program, config=values)
    assert any(r.type == "kubernetes:apps/v1:Deployment" for r in first.registrations)
    refused = run(program, config={**values, "gosvc:kafkaStorage": "1Gi"}, state=first.state(), raise_errors=False)
    assert isinstance(refused.error, ConfigError) and refused.error.key == "kafka.storage"
    assert refused.registrations == []
    grown = run(program, config={**values, "gosvc:kafkaStorage": "50Gi"}, state=first.state())
    assert [r.name for r in grown.registrations if r.type.endswith(":PersistentVolumeClaimPatch")] == ["logging-kafka-volume-0"]


class _Result:
    def __init__(self, value):
        self.value = value


def test_state_read_retries_a_checkpoint_caught_mid_write_and_nothing_else(monkeypatch):
    """The engine rewrites its checkpoint during an update; a read that lands mid-write fails with EOF, once or twice."""
    from components.logging import component

    calls = []

    def invoke(token, args):
        calls.append(token)
        if len(calls) < 3:
            raise Exception("invoke of pulumi:pulumi:readStackResourceOutputs failed: failed to load checkpoint: EOF")
        return _Result({"outputs": {}})

    monkeypatch.setattr(component.pulumi.runtime, "invoke", invoke)
    monkeypatch.setattr(component.time, "sleep", lambda _: None)
    monkeypatch.setattr(component.pulumi, "get_organization", lambda: "organization")
    monkeypatch.setattr(component.pulumi, "get_project", lambda: "gosvc")
    monkeypatch.setattr(component.pulumi, "get_stack", lambda: "dev")
    assert component.read_deployed("logging") is None and calls == [upgrades.READ_STATE] * 3

    def failing(message):
        def invoke(token, args):
            calls.append(token)
            raise Exception(message)

        return invoke

    calls.clear()
    monkeypatch.setattr(component.pulumi.runtime, "invoke", failing("invoke of pulumi:pulumi:readStackResourceOutputs failed: unknown stack"))
    with pytest.raises(Exception, match="unknown stack"):
        component.read_deployed("logging")
    assert len(calls) == 1, "only a checkpoint caught mid-write is read again"

    calls.clear()
    monkeypatch.setattr(component.pulumi.runtime, "invoke", failing("failed to load checkpoint: EOF"))
    with pytest.raises(Exception, match="failed to load checkpoint"):
        component.read_deployed("logging")
    assert len(calls) == component.CHECKPOINT_READS
