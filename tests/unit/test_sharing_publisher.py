"""The sharing publisher's rules (functions/cross_sector_sharing/logic.py) against in-memory fakes: who
receives a Bundle under every relation, consent as it is at publish time, the nationally agreed types, the
events that share nothing, invalidation, redelivery, a split Bundle, and a refused message failing only its
own record; and the agreed types' setting. Every Bundle published here is validated with fhir.resources'
R4B models."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from functions.cross_sector_sharing.logic import BundlePublisher
from functions.cross_sector_sharing.models import UploadEvaluated
from functions.cross_sector_sharing.publisher import MAX_BUNDLE_BYTES
from functions.cross_sector_sharing.settings import PublisherSettings
from functions.shared.citizen_records import ConsentStatus
from tests.support.fakes import RecordedMetrics
from tests.support.organisations import HOSPITAL, MONITORING, OTHER, TREATING
from tests.support.sharing import (
    CPR,
    EPISODE,
    OTHER_CPR,
    OTHER_EPISODE,
    OTHER_PATIENT,
    PATIENT,
    SHARED_TYPES,
    FakeBundleTopic,
    FakeSharingDirectory,
    answer,
    consent,
    evaluated,
    invalidation,
    missed,
    observations,
    pressure,
    reading,
    relations,
    validated,
)


class Publisher:
    """The publisher over fakes: one citizen with a granted consent and an episode treated by TREATING and
    monitored by MONITORING, unless a test changes them."""

    def __init__(self, shared_types: frozenset[str] = SHARED_TYPES) -> None:
        self.directory = FakeSharingDirectory()
        self.directory.citizen(PATIENT, CPR, consent())
        self.directory.relations[EPISODE] = relations()
        self.topic = FakeBundleTopic()
        self.metrics = RecordedMetrics()
        self.publisher = BundlePublisher(self.directory, self.topic, shared_types, MAX_BUNDLE_BYTES,
                                         self.metrics)

    def publish(self, *bodies: dict[str, Any]) -> set[str]:
        """Publish the events as records ``message-<n>``; the records not published."""
        return self.publisher.publish([(f"message-{n}", UploadEvaluated.model_validate_json(json.dumps(body)))
                                       for n, body in enumerate(bodies)])

    @property
    def bundles(self) -> list[dict[str, Any]]:
        return [validated(message.body) for message in self.topic.published]


@pytest.fixture
def sharing() -> Publisher:
    return Publisher()


# --- recipients -----------------------------------------------------------------------------------------


def test_the_treating_and_the_monitoring_organisation_receive_the_bundle(sharing):
    # Given an upload of the episode, When it is published
    assert sharing.publish(evaluated(reading("spo2", 94))) == set()
    # Then one message carries its Bundle to both organisations, sorted
    [message] = sharing.topic.published
    assert message.recipients == tuple(sorted((TREATING, MONITORING)))
    assert (message.part, message.parts) == (1, 1)
    [bundle] = sharing.bundles
    assert message.bundle_id == bundle["id"]
    assert bundle["identifier"]["value"] == message.event_id
    assert sharing.metrics.values == {"BundlesPublished": 1, "ObservationsShared": 1}


def test_an_episode_treated_and_monitored_by_one_organisation_has_it_once_among_the_recipients(sharing):
    sharing.directory.relations[EPISODE] = relations(treating=MONITORING, monitoring=MONITORING)
    sharing.publish(evaluated(reading("spo2", 94)))
    assert sharing.topic.published[0].recipients == (MONITORING,)


def test_the_organisation_offered_the_monitoring_receives_nothing_until_it_accepts(sharing):
    # Given a handover offered to HOSPITAL, not yet accepted
    sharing.directory.relations[EPISODE] = relations(handover_to=HOSPITAL)
    # When an upload is published
    sharing.publish(evaluated(reading("spo2", 94)))
    # Then HOSPITAL is not among the recipients
    assert sharing.topic.published[0].recipients == tuple(sorted((TREATING, MONITORING)))


def test_after_an_accepted_handover_the_new_monitoring_organisation_receives_and_the_old_one_not(sharing):
    # Given an event evaluated while MONITORING monitored the episode (its organisation fields say so)
    body = evaluated(reading("spo2", 94))
    assert body["monitoring_organisation"] == MONITORING
    # And HOSPITAL accepting the handover before the event is published
    sharing.directory.before_read = lambda: sharing.directory.relations.update(
        {EPISODE: relations(monitoring=HOSPITAL)})
    # When it is published
    sharing.publish(body)
    # Then the recipients are decided at publish time: HOSPITAL, not MONITORING
    assert sharing.topic.published[0].recipients == tuple(sorted((TREATING, HOSPITAL)))
    assert OTHER not in sharing.topic.published[0].recipients


# --- consent --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("recorded", "reason"), [
    (consent(ConsentStatus.WITHDRAWN, "2024-04-20T00:00:00.000Z"), "ConsentWithdrawn"),
    (None, "NoConsent"),
])
def test_without_a_granted_consent_nothing_is_published(recorded, reason):
    # Given a citizen whose consent is withdrawn, or was never recorded
    sharing = Publisher()
    sharing.directory.consents.pop(PATIENT)
    if recorded:
        sharing.directory.consents[PATIENT] = recorded
    # When an upload is published
    not_published = sharing.publish(evaluated(reading("spo2", 94)))
    # Then nothing goes to the topic, the record is done (not retried), and the reason is counted
    assert not_published == set()
    assert sharing.topic.published == []
    assert sharing.metrics.values[f"BundlesWithheld{reason}"] == 1
    assert sharing.metrics.values["BundlesPublished"] == 0


def test_a_consent_withdrawn_after_the_measurement_arrived_is_honoured_at_publish_time(sharing):
    # Given an upload evaluated while the consent was granted, and a withdrawal recorded before publication
    body = evaluated(reading("spo2", 94))
    sharing.directory.before_read = lambda: sharing.directory.consents.update(
        {PATIENT: consent(ConsentStatus.WITHDRAWN, "2024-05-01T08:05:03.000Z")})
    # When it is published
    sharing.publish(body)
    # Then nothing is published
    assert sharing.topic.published == []
    assert sharing.metrics.values["BundlesWithheldConsentWithdrawn"] == 1


def test_a_renewed_consent_shares_again(sharing):
    sharing.directory.consents[PATIENT] = consent(ConsentStatus.GRANTED, "2024-04-25T00:00:00.000Z")
    sharing.publish(evaluated(reading("spo2", 94)))
    assert len(sharing.topic.published) == 1


def test_each_citizen_of_a_batch_is_decided_by_their_own_consent(sharing):
    # Given two citizens in one batch, one of whom withdrew
    sharing.directory.citizen(OTHER_PATIENT, OTHER_CPR, consent(ConsentStatus.WITHDRAWN))
    sharing.directory.relations[OTHER_EPISODE] = relations(OTHER_EPISODE, OTHER_PATIENT)
    # When both uploads are published
    sharing.publish(evaluated(reading("spo2", 94)),
                    evaluated(reading("spo2", 95), episode_id=OTHER_EPISODE, patient_id=OTHER_PATIENT))
    # Then only the consenting citizen's Bundle is published, with their own CPR number
    [bundle] = sharing.bundles
    patient = bundle["entry"][0]["resource"]
    assert patient["resourceType"] == "Patient"
    assert patient["identifier"][0]["value"] == CPR
    # And the batch's state was read once, for both
    assert sharing.directory.reads == [(frozenset({EPISODE, OTHER_EPISODE}),
                                        frozenset({PATIENT, OTHER_PATIENT}))]


# --- the agreed types -----------------------------------------------------------------------------------


def test_only_the_agreed_types_are_shared(sharing):
    # Given an upload of a saturation and a blood glucose (not an agreed type)
    spo2, glucose = reading("spo2", 94, position=0), reading("blood_glucose", 6.4, position=1)
    # When it is published
    sharing.publish(evaluated(spo2, glucose))
    # Then the Bundle holds the saturation alone
    [observation] = observations(sharing.bundles[0])
    assert observation["identifier"][0]["value"] == spo2["measurement_id"]


def test_an_upload_of_no_agreed_type_publishes_nothing_and_reads_nothing(sharing):
    not_published = sharing.publish(evaluated(reading("blood_glucose", 6.4)))
    assert not_published == set()
    assert sharing.topic.published == []
    assert sharing.directory.reads == []
    assert sharing.metrics.values["BundlesWithheldNotAgreedTypes"] == 1


def test_answers_are_shared_only_where_the_questionnaire_is_agreed():
    # Given an upload of a saturation and an answer
    body = evaluated(reading("spo2", 94), answers=[answer()])
    # When published where the questionnaire is agreed, and where it is not
    with_answers, without = Publisher(), Publisher(SHARED_TYPES - {"questionnaire"})
    with_answers.publish(body)
    without.publish(body)
    # Then only the first Bundle holds the QuestionnaireResponse
    def kinds(sharing: Publisher) -> list[str]:
        return [entry["resource"]["resourceType"] for entry in sharing.bundles[0]["entry"]]
    assert kinds(with_answers) == ["Patient", "Device", "Observation", "QuestionnaireResponse"]
    assert kinds(without) == ["Patient", "Device", "Observation"]


def test_answers_alone_are_withheld_where_the_questionnaire_is_not_agreed():
    sharing = Publisher(SHARED_TYPES - {"questionnaire"})
    sharing.publish(evaluated(answers=[answer()]))
    assert sharing.topic.published == []
    assert sharing.metrics.values["BundlesWithheldNotAgreedTypes"] == 1


def test_a_blood_pressures_cuff_pulse_goes_along_only_where_pulse_is_agreed():
    # Given a blood pressure with its cuff's pulse
    body = evaluated(pressure())
    # When published where pulse is agreed, and where only blood pressure is
    with_pulse, without = Publisher(), Publisher(SHARED_TYPES - {"pulse"})
    with_pulse.publish(body)
    without.publish(body)
    # Then the panel goes to both, its cuff pulse only to the first
    assert len(observations(with_pulse.bundles[0])) == 2
    [panel] = observations(without.bundles[0])
    assert "hasMember" not in panel
    assert len(panel["component"]) == 2


# --- what shares nothing, invalidation ----------------------------------------------------------------


def test_a_missed_measurement_publishes_nothing(sharing):
    assert sharing.publish(missed()) == set()
    assert sharing.topic.published == []
    assert sharing.directory.reads == []
    assert sharing.metrics.values["BundlesWithheldNothingMeasured"] == 1


def test_an_invalidation_shares_the_measurement_again_as_entered_in_error_without_a_device(sharing):
    # Given a saturation shared with its upload, then invalidated by a clinician
    measured = reading("spo2", 94)
    sharing.publish(evaluated(measured))
    # When the invalidation's event is published
    sharing.publish(invalidation(measured))
    # Then the same Observation comes again, entered-in-error, and the Bundle names no device
    first, again = sharing.bundles
    [shared], [invalidated] = observations(first), observations(again)
    assert (shared["status"], invalidated["status"]) == ("final", "entered-in-error")
    assert invalidated["id"] == shared["id"]
    assert "device" not in invalidated
    assert [entry["resource"]["resourceType"] for entry in again["entry"]] == ["Patient", "Observation"]


# --- redelivery, size, failures ------------------------------------------------------------------------


def test_a_redelivered_event_is_published_as_the_same_bytes_under_the_same_bundle_id(sharing):
    # Given an upload published once
    body = evaluated(reading("spo2", 94), pressure(position=1), reading("weight", 69.989303, position=2),
                     answers=[answer()])
    sharing.publish(body)
    # When SQS delivers it again
    sharing.publish(json.loads(json.dumps(body)))
    # Then the second message is the first, byte for byte: a subscriber drops it by its Bundle id
    first, second = sharing.topic.published
    assert first == second
    assert first.bundle_id == json.loads(second.body)["id"]


def test_an_oversized_bundle_is_published_in_parts_each_under_snss_limit(sharing):
    # Given an upload of 200 blood pressures (the most an upload holds), over 256 KiB as one Bundle
    body = evaluated(*(pressure(position=n) for n in range(200)))
    # When it is published
    assert sharing.publish(body) == set()
    # Then it goes as several messages, each a valid Bundle within the limit, numbered, with stable ids
    messages = list(sharing.topic.published)
    assert len(messages) > 1
    assert [(m.part, m.parts) for m in messages] == [(n, len(messages)) for n in range(1, len(messages) + 1)]
    assert all(len(m.body.encode()) <= MAX_BUNDLE_BYTES for m in messages)
    assert len({m.bundle_id for m in messages}) == len(messages)
    assert [m.bundle_id for m in messages] == [bundle["id"] for bundle in sharing.bundles]
    # And together they hold all 200 panels and their 200 cuff pulses
    assert sum(len(observations(bundle)) for bundle in sharing.bundles) == 400
    assert sharing.metrics.values == {"BundlesPublished": 1, "ObservationsShared": 400}
    # And a redelivery publishes the same parts again
    sharing.publish(body)
    assert sharing.topic.published[len(messages):] == messages


def test_a_message_the_topic_refuses_fails_only_its_own_record():
    # Given a topic that refuses the second event's Bundle
    sharing = Publisher()
    sharing.directory.citizen(OTHER_PATIENT, OTHER_CPR, consent())
    sharing.directory.relations[OTHER_EPISODE] = relations(OTHER_EPISODE, OTHER_PATIENT)
    refused = evaluated(reading("spo2", 95), episode_id=OTHER_EPISODE, patient_id=OTHER_PATIENT)
    sharing.topic.refuse = lambda message: message.event_id == refused["event_id"]
    # When a batch of three is published
    not_published = sharing.publish(evaluated(reading("spo2", 94)), refused,
                                     evaluated(reading("spo2", 93), upload_id="u2"))
    # Then only its record is reported, for SQS to redeliver; the others are published
    assert not_published == {"message-1"}
    assert len(sharing.topic.published) == 2
    assert sharing.metrics.values["BundlesNotPublished"] == 1
    assert sharing.metrics.values["BundlesPublished"] == 2


def test_one_refused_part_fails_the_whole_event_and_its_redelivery_publishes_every_part(sharing):
    # Given a topic that refuses part 2 of a split Bundle the first time
    sharing.topic.refuse = lambda message: message.part == 2 and sharing.topic.calls == 1
    body = evaluated(*(pressure(position=n) for n in range(200)))
    # When it is published, the record is reported
    assert sharing.publish(body) == {"message-0"}
    first = list(sharing.topic.published)
    parts = first[0].parts
    assert [m.part for m in first] == [n for n in range(1, parts + 1) if n != 2]
    # And when SQS redelivers it, every part is published again, the same bytes (the subscriber drops the
    # parts it has by their Bundle ids)
    assert sharing.publish(body) == set()
    again = sharing.topic.published[len(first):]
    assert [m.part for m in again] == list(range(1, parts + 1))
    assert [m for m in again if m.part != 2] == first


def test_an_event_whose_episode_or_citizen_is_missing_fails_alone(sharing):
    # Given an event of an episode the table does not hold, and one of a citizen with no profile
    sharing.directory.consents[OTHER_PATIENT] = consent()
    sharing.directory.relations[OTHER_EPISODE] = relations(OTHER_EPISODE, OTHER_PATIENT)
    no_episode = evaluated(reading("spo2", 94), episode_id="epi_000000000000000000000000")
    no_profile = evaluated(reading("spo2", 94), episode_id=OTHER_EPISODE, patient_id=OTHER_PATIENT)
    # When published with an ordinary one
    not_published = sharing.publish(no_episode, no_profile, evaluated(reading("spo2", 93)))
    # Then both are reported (retried, in the end dead-lettered: no data is dropped silently); the third goes
    assert not_published == {"message-0", "message-1"}
    assert len(sharing.topic.published) == 1


# --- the agreed types' configuration --------------------------------------------------------------------

_SETTINGS = {"CITIZENS_TABLE_NAME": "citizens", "EPISODES_TABLE_NAME": "episodes",
             "CITIZEN_PROFILE_KEY_ID": "key-1",
             "SHARING_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:telehub-test-sharing"}


def test_the_agreed_types_are_read_from_their_comma_separated_setting(monkeypatch):
    agreed = "spo2, blood_pressure,questionnaire"
    for name, value in {**_SETTINGS, "SHARED_MEASUREMENT_TYPES": agreed}.items():
        monkeypatch.setenv(name, value)
    settings = PublisherSettings.from_environment()
    assert settings.shared_measurement_types == frozenset({"spo2", "blood_pressure", "questionnaire"})


def test_an_empty_list_of_agreed_types_shares_nothing(monkeypatch):
    for name, value in {**_SETTINGS, "SHARED_MEASUREMENT_TYPES": ""}.items():
        monkeypatch.setenv(name, value)
    assert PublisherSettings.from_environment().shared_measurement_types == frozenset()


def test_a_type_that_is_not_shareable_is_a_configuration_error(monkeypatch):
    # Given a misspelt type (a typo would otherwise silently never share it)
    for name, value in {**_SETTINGS, "SHARED_MEASUREMENT_TYPES": "spo2,sp02"}.items():
        monkeypatch.setenv(name, value)
    # Then reading the settings fails, naming it
    with pytest.raises(ValidationError, match="sp02"):
        PublisherSettings.from_environment()
