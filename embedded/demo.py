"""The demo: a scripted scenario against the running embedded system, over real HTTP.

A GP refers a COPD test citizen to monitoring; the monitoring-package order reaches the logistics
centre's queue, naming the citizen by patient id only, and the centre reads whom it is for through the
access-logged API; the centre registers the devices, which makes the episode active; the citizen's
tablet (the simulator) uploads measurements and questionnaire answers, retries, catches up on a
backlog, sends a bad unit and reuses an upload id; the evaluator puts the citizen on the
municipality's worklist; a RED SpO2 tops it and the nurse acknowledges it with a note; the GP adjusts
a threshold; monitoring responsibility (and the worklist row) moves from the municipality to the
hospital while the tablet keeps its credential; the missed-measurement schedule, run as of four days
on, raises a BLUE alarm; the GP ends the episode, the devices are ordered collected (the centre reads
the contact again) and the tablet is locked out. Along the way the citizen's data is shared as FHIR
(the referral records the consent): each evaluated upload reaches the GP's and the monitoring
organisation's own queues and no other region's, follows the handover to the hospital's queue, and the
GP pulls the observations by FHIR search. The citizen, with a token as the national login gives, reads
who looked at their data and their own measurements. Last, a second citizen, monitored by the municipal
nurses the web app signs in as by default, sends a RED SpO2 that is left open: for you to see on their
worklist in the browser, open the chart and acknowledge. Each step says what it expected and whether that
is what happened.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from embedded.api_client import ApiReply, call
from embedded.dev_issuer import DevIssuer
from embedded.organisations import (
    GP_YDERNUMMER,
    HOSPITAL_SOR,
    LOGISTICS_CENTRE_SOR,
    MUNICIPALITY_SOR,
    NURSES_SOR,
    OTHER_REGION_SOR,
)
from embedded.simulator import COPD_KIT_TYPES, HomeTablet
from embedded.subscriber import masked_cpr, summaries
from functions.cross_sector_sharing.fhir import CPR_SYSTEM
from infrastructure.resource_spec import SharingSubscriber

TEST_CITIZEN_CPR = "2512489996"  # a test CPR number (DESIGN §5): no real person
TEST_CITIZEN_NAME = "Karen Jensen"
TEST_CITIZEN_PHONE = "+45 20 30 40 50"
# The citizen left with an open RED alarm for the web app (a test CPR number too).
BROWSER_CITIZEN_CPR = "1507459995"
BROWSER_CITIZEN_NAME = "Jens Hansen"
BROWSER_CITIZEN_PHONE = "+45 31 41 59 26"
QUEUE_WAIT_SECONDS = 15
SETTLE_SECONDS = 0.5  # two polls of a stream: long enough for a duplicate message to show
WORKLIST_WAIT_SECONDS = 15  # an upload's 202 to its row: the stream, the queue and the evaluator
RED_SPO2 = 84  # below the GP's red limit of 86
MISSED_MEASUREMENTS = "missed-measurements"
LOGISTICS_ORDERS_QUEUE = "logistics-orders"
ACCESS_LOG_TABLE = "access-log"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{colour} {counts[colour]}" for colour in ("RED", "YELLOW", "BLUE", "GREEN"))


def _red(bundle: dict[str, Any]) -> bool:
    return any(coding.get("code") == "RED" for entry in bundle["entry"]
               for interpretation in entry["resource"].get("interpretation", [])
               for coding in interpretation["coding"])


def _next_link(searchset: dict[str, Any]) -> str | None:
    return next((link["url"] for link in searchset.get("link", []) if link["relation"] == "next"), None)


class StepFailed(Exception):
    """The system did not behave as the step expected."""


def expect(reply: ApiReply, status: int, what: str) -> ApiReply:
    if reply.status != status:
        code = reply.body.get("code") if isinstance(reply.body, dict) else None
        raise StepFailed(
            f"{what}: expected HTTP {status}, got {reply.status}" + (f" ({code})" if code else "")
        )
    return reply


def masked(secret: str) -> str:
    return f"{secret[:10]}... ({len(secret)} characters, not shown)"


def masked_phone(phone: str) -> str:
    """The first three and last two characters; the digits between starred."""
    middle = "".join("*" if character.isdigit() else character for character in phone[3:-2])
    return f"{phone[:3]}{middle}{phone[-2:]}"


def initials(name: str) -> str:
    return " ".join(f"{part[0]}." for part in name.split())


@dataclass
class Demo:
    api_url: str
    issuer: DevIssuer
    sqs: Any  # a boto3 SQS client of the running system's moto server
    queue_urls: dict[str, str]
    dynamodb: Any  # a boto3 DynamoDB client of the same server, to show the access log
    access_log_table: str
    # Runs a scheduled function once, as its schedule would at the given instant.
    run_scheduled: Callable[[str, datetime], Any]
    say: Callable[[str], None] = print
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # What the steps learn and hand on to later ones.
    tokens: dict[str, str] = field(default_factory=dict)
    episode_id: str = ""
    patient_id: str = ""
    device_id: str = ""
    tablet: HomeTablet | None = None
    upload_ids: list[str] = field(default_factory=list)
    first_upload: dict[str, Any] = field(default_factory=dict)
    first_reply: Any = None
    backlog_upload_id: str = ""
    red_alarm_id: str = ""
    browser_episode_id: str = ""

    def run(self) -> bool:
        """Run every step in order, stopping at the first that does not behave as expected."""
        steps = [
            ("Mint tokens: the GP, the municipality, the hospital, another region, the logistics centre",
             self.mint_tokens),
            ("The GP refers the test citizen to COPD monitoring", self.refer),
            ("The monitoring-package order reaches the logistics queue; the centre reads whom it is for",
             self.read_delivery_order),
            ("The logistics centre registers the devices", self.register_device),
            ("The GP reads the episode: active, the read written to the access log", self.read_episode),
            ("The tablet uploads this morning's measurements and questionnaire answers", self.upload),
            ("The tablet retries the same upload (a lost reply)", self.retry_upload),
            ("The tablet catches up on a backlog from 3 days ago", self.upload_backlog),
            ("The tablet sends a weight in an unknown unit", self.upload_bad_unit),
            ("The tablet reuses an upload id for a different body", self.reuse_upload_id),
            ("The uploads are evaluated: the citizen is on the municipality's worklist", self.read_worklist),
            (f"The tablet sends a RED SpO2 ({RED_SPO2} %, below the GP's limit of 86)", self.upload_red),
            ("The RED alarm tops the municipality's worklist; the hospital does not see it", self.red_on_top),
            ("The citizen's data reaches the GP's and the municipality's own queues as FHIR, no other's",
             self.shared_before_handover),
            ("The municipality's nurse acknowledges the RED alarm with a note", self.acknowledge_red),
            ("The GP adjusts a threshold", self.adjust_thresholds),
            ("The municipality hands monitoring over to the hospital, which accepts", self.hand_over),
            ("The tablet uploads again with the same credential", self.upload_after_handover),
            ("The hospital's queue now receives the citizen's data; the municipality's no longer does",
             self.shared_after_handover),
            ("The GP pulls the citizen's observations: FHIR search by POST, the CPR number in the body",
             self.search_observations),
            ("The citizen reads who looked at their data", self.citizen_reads_access_log),
            ("The schedule, run as of four days on, finds a measurement missing: BLUE",
             self.missed_measurement),
            ("The GP ends the episode", self.end_episode),
            ("A collect-devices order reaches the logistics queue; the centre reads whom it is for",
             self.read_collect_order),
            ("The tablet of the ended episode tries to upload", self.upload_after_end),
            (f"A second citizen, monitored by the municipal nurses ({NURSES_SOR}), sends a RED SpO2: left "
             "open for the web app", self.red_for_the_browser),
        ]
        started = time.monotonic()
        self.say(f"\nDemo: {len(steps)} steps against {self.api_url}")
        for number, (title, step) in enumerate(steps, start=1):
            self.say(f"\n[{number:2}/{len(steps)}] {title}")
            try:
                for line in step():
                    self.say(f"        {line}")
            except StepFailed as failure:
                self.say(f"        FAILED: {failure}")
                elapsed = time.monotonic() - started
                self.say(f"\nDemo stopped: step {number} did not behave as expected ({elapsed:.1f} s).")
                return False
            self.say("        ok")
        elapsed = time.monotonic() - started
        self.say(f"\nDemo finished: all {len(steps)} steps behaved as expected in {elapsed:.1f} s.")
        return True

    def mint_tokens(self) -> list[str]:
        organisations = {"gp": ("clinician", GP_YDERNUMMER), "municipality": ("clinician", MUNICIPALITY_SOR),
                         "hospital": ("clinician", HOSPITAL_SOR),
                         "other_region": ("clinician", OTHER_REGION_SOR),
                         "logistics": ("logistics", LOGISTICS_CENTRE_SOR)}
        lines = []
        for who, (role, organisation) in organisations.items():
            self.tokens[who] = self.issuer.mint(role, organisation=organisation, subject=f"demo-{who}")
            lines.append(f"{who}: role {role}, organisation {organisation}: {masked(self.tokens[who])}")
        return lines

    def refer(self) -> list[str]:
        referral = {
            "referral_id": f"demo-{int(self.now().timestamp())}",
            "citizen": {"cpr": TEST_CITIZEN_CPR, "name": TEST_CITIZEN_NAME, "phone": TEST_CITIZEN_PHONE},
            "disease_area": "copd",
            "treating_organisation": GP_YDERNUMMER,
            "monitoring_organisation": MUNICIPALITY_SOR,
            "logistics_centre": LOGISTICS_CENTRE_SOR,
            "thresholds": {"absolute": {"spo2": {"red_low": 86}}},  # the default is 88
            "sharing_consent": "granted",  # the citizen agreed to share with the GP and the monitoring team
            "schedule": {"per_week": 3},
            "note": "Known COPD GOLD 3; habitual SpO2 around 91 %.",
        }
        reply = expect(self._call("POST", "/v1/referrals", "gp", referral), 201, "referral").body
        if reply["status"] != "planned" or reply["threshold_version"] != 1:
            raise StepFailed(f"expected a planned episode at threshold version 1, got {reply}")
        self.episode_id, self.patient_id = reply["episode_id"], reply["patient_id"]
        return [
            f"citizen {masked_cpr(TEST_CITIZEN_CPR)}: patient id {self.patient_id}",
            f"POST /v1/referrals -> 201: episode {self.episode_id}, status planned, thresholds version 1 "
            "(COPD defaults, SpO2 red below 86 instead of 88), 3 measurements a week, the citizen's "
            "consent to sharing recorded",
        ]

    def read_delivery_order(self) -> list[str]:
        order = self._order("deliver")
        contact = self._order_contact(order)
        return [
            f"order {order['order_id']}: deliver to patient {order['patient_id']} from logistics centre "
            f"{order['logistics_centre']}:",
            *(f"  {item['quantity']} x {item['device']} ({', '.join(item['measurement_types'])})"
              for item in order["package"]),
            "the message names the citizen by patient id only: no CPR number, name or phone on the queue",
            f"GET /v1/episodes/{{episode_id}}/orders/{order['order_id']}/contact (the centre's token) "
            f"-> 200, access-logged: deliver to citizen {masked_cpr(contact['cpr'])} "
            f"({initials(contact['name'])}, phone {masked_phone(contact['phone'])})",
        ]

    def register_device(self) -> list[str]:
        registration = {
            "cpr": TEST_CITIZEN_CPR,
            "vendor": "Telehub Demo",
            "model": "COPD home kit tablet",
            "serial": f"DEMO-{int(self.now().timestamp())}",
            "measurement_types": list(COPD_KIT_TYPES),
        }
        body = expect(self._call("POST", "/v1/devices", "logistics", registration), 201, "registration").body
        if body["patient_id"] != self.patient_id:
            raise StepFailed("the device was registered to another patient id than the referral's")
        self.device_id = body["device_id"]
        self.tablet = HomeTablet(self.api_url, body["credential"])
        return [
            f"device id {self.device_id}, same patient id, measures {', '.join(body['measurement_types'])}",
            f"credential for the tablet: {masked(body['credential'])}",
        ]

    def read_episode(self) -> list[str]:
        episode = expect(self._call("GET", f"/v1/episodes/{self.episode_id}", "gp"), 200, "read").body
        if episode["status"] != "active" or episode["device_ids"] != [self.device_id]:
            raise StepFailed(f"expected the episode active with the device, got {episode['status']}, "
                             f"devices {episode['device_ids']}")
        reads = self.dynamodb.query(
            TableName=self.access_log_table, KeyConditionExpression="patient_id = :patient",
            ExpressionAttributeValues={":patient": {"S": self.patient_id}}, ConsistentRead=True,
        )["Items"]
        mine = [entry for entry in reads if entry["episode_id"]["S"] == self.episode_id
                and entry["organisation"]["S"] == GP_YDERNUMMER and entry["action"]["S"] == "read_episode"]
        if not mine:
            raise StepFailed("the GP's read is not in the access log")
        return [
            f"GET /v1/episodes/{self.episode_id} -> 200: status active, device {self.device_id}, "
            f"monitored by {episode['monitoring_organisation']}",
            f"access log: read_episode by demo-gp of {GP_YDERNUMMER} at {mine[-1]['accessed_at']['S']}",
        ]

    def upload(self) -> list[str]:
        tablet, now = self._tablet(), self.now()
        # The citizen coughs more than usual this morning: a YELLOW answer in the COPD questionnaire.
        answers = tablet.morning_answers(now, worse=("more_cough_than_usual",))
        self.first_upload = tablet.new_upload(tablet.morning_readings(now), answers=answers)
        reply = expect(tablet.send(self.first_upload), 202, "upload")
        if reply.body["answers_accepted"] != len(answers):
            raise StepFailed(f"expected {len(answers)} answers accepted, got "
                             f"{reply.body['answers_accepted']}")
        self.first_reply = reply.body
        self.upload_ids.append(self.first_upload["upload_id"])
        return [
            f"{len(self.first_upload['measurements'])} readings (weight in lb, CAT score typed) and the COPD "
            f"questionnaire's {len(answers)} answers (more cough than usual: yes) -> 202: "
            f"upload {reply.body['upload_id']}, {reply.body['accepted']} measurements and "
            f"{reply.body['answers_accepted']} answers accepted"
        ]

    def retry_upload(self) -> list[str]:
        reply = expect(self._tablet().send(self.first_upload), 202, "retry")
        if reply.body != self.first_reply:
            raise StepFailed("the retry got a different reply from the first attempt")
        return [f"-> 202 with the same reply (received_at {reply.body['received_at']}); nothing stored twice"]

    def upload_backlog(self) -> list[str]:
        upload = self._tablet().new_upload(self._tablet().morning_readings(self.now() - timedelta(days=3)))
        reply = expect(self._tablet().send(upload), 202, "backlog upload")
        self.upload_ids.append(upload["upload_id"])
        self.backlog_upload_id = upload["upload_id"]
        return [f"readings measured 3 days ago -> 202: {reply.body['accepted']} accepted, to be flagged late"]

    def upload_bad_unit(self) -> list[str]:
        measurements = self._tablet().morning_readings(self.now())
        weight = next(index for index, m in enumerate(measurements) if m["type"] == "weight")
        measurements[weight]["unit"] = "stone"
        reply = expect(self._tablet().send(self._tablet().new_upload(measurements)), 422, "bad unit")
        field_name = f"measurements[{weight}].unit"
        if field_name not in reply.error_fields():
            raise StepFailed(f"the 422 does not name {field_name} (it names {reply.error_fields()})")
        return [f"-> 422 naming the field {field_name}; nothing stored"]

    def reuse_upload_id(self) -> list[str]:
        different = self._tablet().new_upload(
            self._tablet().morning_readings(self.now()), upload_id=self.first_upload["upload_id"]
        )
        reply = expect(self._tablet().send(different), 409, "reused upload id")
        return [
            f"-> 409 ({reply.body.get('code', '')}): upload {different['upload_id']} already holds other data"
        ]

    def read_worklist(self) -> list[str]:
        row = self._row("municipality", lambda row: row["counts"]["YELLOW"] >= 1)
        counts = row["counts"]
        return [
            f"GET /v1/worklist (municipality) -> 200: episode {self.episode_id}, most severe "
            f"{row['alarm']['colour']} (the answer 'more cough than usual: yes'), counts {_counts(counts)}",
            f"last measured {row['last_measured_at']}; the 3-day backlog was judged by the thresholds of "
            "its own time, and flagged late",
        ]

    def upload_red(self) -> list[str]:
        tablet, now = self._tablet(), self.now()
        spo2 = {"type": "spo2", "value": RED_SPO2, "unit": "%", "measured_at": now.isoformat(),
                "method": "automatic"}
        reply = expect(tablet.send(tablet.new_upload([spo2])), 202, "RED upload")
        return [f"SpO2 {RED_SPO2} % -> 202: upload {reply.body['upload_id']}"]

    def red_on_top(self) -> list[str]:
        row = self._row("municipality", lambda row: (row["alarm"] or {}).get("colour") == "RED")
        rows = expect(self._call("GET", "/v1/worklist", "municipality"), 200, "worklist").body["rows"]
        if rows[0]["episode_id"] != self.episode_id:
            raise StepFailed("the RED row is not at the top of the worklist")
        self.red_alarm_id = row["alarm"]["alarm_id"]
        hospital = expect(self._call("GET", "/v1/worklist", "hospital"), 200, "hospital's worklist").body
        if any(other["episode_id"] == self.episode_id for other in hospital["rows"]):
            raise StepFailed("the hospital sees a row of an episode it does not monitor")
        return [
            f"municipality: first row, alarm {self.red_alarm_id} RED raised {row['alarm']['raised_at']}, "
            f"counts {_counts(row['counts'])}",
            f"hospital: {len(hospital['rows'])} row(s), none of this episode (no monitoring responsibility)",
        ]

    def acknowledge_red(self) -> list[str]:
        path = f"/v1/alarms/{self.red_alarm_id}/acknowledge"
        note = {"note": "Called the citizen: probe on a cold finger, SpO2 93 % on re-measuring."}
        alarm = expect(self._call("POST", path, "municipality", note), 200, "acknowledgement").body
        again = expect(self._call("POST", path, "municipality", note), 409, "second acknowledgement")
        row = self._row("municipality", lambda row: (row["alarm"] or {}).get("colour") != "RED")
        return [
            f"POST {path} -> 200: acknowledged by {alarm['acknowledged']['by']} at "
            f"{alarm['acknowledged']['at']}",
            f"again -> 409: {again.body.get('detail', '')}",
            f"the row now waits for {row['alarm']['colour'] if row['alarm'] else 'GREEN uploads only'}: "
            f"counts {_counts(row['counts'])}",
        ]

    def adjust_thresholds(self) -> list[str]:
        change = {"thresholds": {"absolute": {"spo2": {"yellow_low": 90}}}}  # yellow below 90, not 92
        path = f"/v1/episodes/{self.episode_id}/thresholds"
        version = expect(self._call("PUT", path, "gp", change), 200, "threshold change").body
        spo2 = version["thresholds"]["absolute"]["spo2"]
        if version["version"] != 2 or spo2 != {"red_low": 86, "yellow_low": 90}:
            raise StepFailed(f"expected version 2 with SpO2 red below 86, yellow below 90; got {version}")
        forbidden = expect(self._call("PUT", path, "municipality", change), 403, "the municipality's change")
        return [
            f"PUT {path} -> 200: version 2 valid from {version['valid_from']}, SpO2 yellow below 90 "
            "(version 1 kept for measurements taken before)",
            f"the same change by the municipality -> {forbidden.status}: only the treating GP changes them",
        ]

    def hand_over(self) -> list[str]:
        path = f"/v1/episodes/{self.episode_id}/handover"
        offered = expect(self._call("POST", path, "municipality", {"to_organisation": HOSPITAL_SOR}), 200,
                         "handover offer").body
        if offered["monitoring_organisation"] != MUNICIPALITY_SOR:
            raise StepFailed("responsibility moved before the hospital accepted")
        taken = expect(self._call("POST", f"{path}/accept", "hospital"), 200, "handover accept").body
        if taken["monitoring_organisation"] != HOSPITAL_SOR or taken["device_ids"] != [self.device_id]:
            raise StepFailed("the hospital does not hold monitoring responsibility with the same device")
        row = self._row("hospital", lambda row: True)
        municipality = expect(self._call("GET", "/v1/worklist", "municipality"), 200, "worklist").body
        if any(other["episode_id"] == self.episode_id for other in municipality["rows"]):
            raise StepFailed("the municipality's worklist still shows the episode after the handover")
        return [
            f"POST {path} -> 200: offered to {HOSPITAL_SOR}; the municipality keeps it until accepted",
            f"POST {path}/accept -> 200: monitored by {HOSPITAL_SOR}, same device {self.device_id}",
            f"the row moved with its unacknowledged alarms: the hospital's worklist counts "
            f"{_counts(row['counts'])}; the municipality's no longer shows it",
        ]

    def upload_after_handover(self) -> list[str]:
        # Taken just now, all of them (to the microsecond, as the RED SpO2): after the GP's threshold change
        # a moment ago, so that each is judged under it (the morning's spread over ten minutes would predate
        # the demo's episode and stay unjudged).
        tablet, now = self._tablet(), self.now()
        readings = [{**reading, "measured_at": now.isoformat()} for reading in tablet.morning_readings(now)]
        reply = expect(tablet.send(tablet.new_upload(readings)), 202, "upload after the handover")
        return [f"-> 202: {reply.body['accepted']} accepted; the citizen kept the device and its credential"]

    def shared_before_handover(self) -> list[str]:
        gp = self._received(GP_YDERNUMMER, until=_red)
        municipality = self._received(MUNICIPALITY_SOR, until=_red)
        self._received_nothing(HOSPITAL_SOR, OTHER_REGION_SOR)
        red = next(bundle for bundle in reversed(gp) if _red(bundle))
        return [
            f"sharing-{GP_YDERNUMMER} (the GP): {len(gp)} Bundle(s), one per evaluated upload; the RED one:",
            *(f"    {line}" for line in summaries(red)),
            f"sharing-{MUNICIPALITY_SOR} (the municipality): the same {len(municipality)} Bundle(s)",
            f"sharing-{HOSPITAL_SOR} (the hospital, not yet monitoring) and sharing-{OTHER_REGION_SOR} "
            "(another region): nothing (SNS filters on each message's recipients)",
        ]

    def shared_after_handover(self) -> list[str]:
        hospital = self._received(HOSPITAL_SOR, until=lambda bundle: True)
        gp = self._received(GP_YDERNUMMER, until=lambda bundle: True)
        self._received_nothing(MUNICIPALITY_SOR, OTHER_REGION_SOR)
        return [
            f"sharing-{HOSPITAL_SOR} (the hospital): {len(hospital)} Bundle(s), of the upload after the "
            "handover:",
            *(f"    {line}" for line in summaries(hospital[-1])),
            f"sharing-{GP_YDERNUMMER} (the GP, still treating): {len(gp)} Bundle(s); "
            f"sharing-{MUNICIPALITY_SOR} and sharing-{OTHER_REGION_SOR}: nothing",
        ]

    def search_observations(self) -> list[str]:
        spo2 = "urn:oid:1.2.208.176.2.1|NPU03011"  # the NPU code of SpO2
        form = [("patient.identifier", f"{CPR_SYSTEM}|{TEST_CITIZEN_CPR}"), ("code", spo2), ("_count", "2")]
        reply = self._search("gp", form)
        if reply.status != 200 or reply.body.get("type") != "searchset":
            raise StepFailed(f"FHIR search: expected a searchset Bundle, got HTTP {reply.status}")
        lines, pages = summaries(reply.body), 1
        while (next_url := _next_link(reply.body)) is not None:
            reply = expect(call("POST", next_url, self.tokens["gp"], form=form), 200, "the next page")
            lines, pages = lines + summaries(reply.body), pages + 1
        if not any("84 %  RED" in line for line in lines):
            raise StepFailed("the search did not find the RED SpO2")
        stranger = self._search("other_region", form)
        unknown = self._search("other_region", [("patient.identifier", f"{CPR_SYSTEM}|0101010000")])
        if stranger.status != 403 or (stranger.status, stranger.body) != (unknown.status, unknown.body):
            raise StepFailed("another region's search must get the same 403 as for an unknown citizen")
        logged = [entry for entry in self.dynamodb.query(
            TableName=self.access_log_table, KeyConditionExpression="patient_id = :patient",
            ExpressionAttributeValues={":patient": {"S": self.patient_id}})["Items"]
            if entry["organisation"]["S"] == GP_YDERNUMMER and "search" in entry["action"]["S"]]
        if not logged:
            raise StepFailed("the GP's search is not in the access log")
        return [
            "POST /fhir/Observation/_search (patient.identifier="
            f"{CPR_SYSTEM}|{masked_cpr(TEST_CITIZEN_CPR)}, code={spo2}, _count=2) -> 200: a searchset, "
            f"{len(lines)} SpO2 observation(s) over {pages} page(s) by next links, newest first, each with "
            "the limits of the threshold version valid when it was measured:",
            *(f"    {line}" for line in lines),
            f"every page is in the access log ({logged[-1]['action']['S']}) before its reply",
            f"another region's hospital -> {stranger.status}, byte for byte the answer for a citizen that "
            "does not exist",
        ]

    def citizen_reads_access_log(self) -> list[str]:
        # As the national login's token: the CPR number in a claim, which the authorizer makes the patient id.
        self.tokens["citizen"] = self.issuer.mint("citizen", subject="demo-citizen", cpr=TEST_CITIZEN_CPR)
        entries: list[dict[str, Any]] = []
        path, pages = "/v1/me/access-log?limit=100", 0
        while True:
            page = expect(self._call("GET", path, "citizen"), 200, "the citizen's access log").body
            entries, pages = entries + page["entries"], pages + 1
            if page["next_cursor"] is None:
                break
            path = f"/v1/me/access-log?limit=100&cursor={page['next_cursor']}"
        organisations = {"the GP": GP_YDERNUMMER, "the municipality": MUNICIPALITY_SOR,
                         "the hospital": HOSPITAL_SOR, "the logistics centre": LOGISTICS_CENTRE_SOR}
        by_organisation = {name: [entry["action"] for entry in entries if entry["organisation"] == code]
                           for name, code in organisations.items()}
        if not all(by_organisation.values()):
            raise StepFailed(f"expected the GP's, the municipality's, the hospital's and the centre's reads, "
                             f"got { {name: len(actions) for name, actions in by_organisation.items()} }")
        measurements = expect(self._call("GET", "/v1/me/measurements?limit=3", "citizen"), 200,
                              "the citizen's measurements").body["measurements"]
        return [
            f"GET /v1/me/access-log (a citizen's token, the CPR number in it, none in the URL) -> 200: "
            f"{len(entries)} entries over {pages} page(s), newest first",
            *(f"    {name}: {len(actions)} entries ({', '.join(sorted(set(actions)))})"
              for name, actions in by_organisation.items()),
            "GET /v1/me/measurements?limit=3 -> 200: "
            + ", ".join(f"{m['type']} {m['colour'] or 'not judged'}" for m in measurements)
            + " (newest first); both reads are in the access log as the citizen's own",
        ]

    def missed_measurement(self) -> list[str]:
        now = self.now()
        # The schedule's first sight of the episode starts its clock; four days on, with nothing measured
        # since this morning, COPD's 96 hours have passed.
        self.run_scheduled(MISSED_MEASUREMENTS, now)
        later = now + timedelta(days=4, hours=1)
        summary = self.run_scheduled(MISSED_MEASUREMENTS, later)
        row = self._row("hospital", lambda row: row["counts"]["BLUE"] == 1)
        alarms = expect(self._call("GET", f"/v1/episodes/{self.episode_id}/alarms?status=open", "hospital"),
                        200, "alarms").body["alarms"]
        [blue] = [alarm for alarm in alarms if alarm["colour"] == "BLUE"]
        return [
            f"missed-measurements as of {later.isoformat(timespec='minutes')}: {summary}",
            f"BLUE alarm {blue['alarm_id']}: a measurement due by {blue['due_at']}; hospital's worklist "
            f"counts {_counts(row['counts'])}",
        ]

    def end_episode(self) -> list[str]:
        expect(self._call("POST", f"/v1/episodes/{self.episode_id}/end", "gp", {}), 204, "ending")
        return [f"POST /v1/episodes/{self.episode_id}/end -> 204: ended, and the device's upload rights"]

    def read_collect_order(self) -> list[str]:
        order = self._order("collect")
        if order["device_ids"] != [self.device_id]:
            raise StepFailed(f"expected the order to collect {self.device_id}, got {order['device_ids']}")
        contact = self._order_contact(order)
        return [
            f"order {order['order_id']}: collect device {self.device_id} from patient {order['patient_id']}, "
            f"by logistics centre {order['logistics_centre']}; no CPR number, name or phone on the queue",
            f"GET .../orders/{order['order_id']}/contact -> 200, access-logged: citizen "
            f"{masked_cpr(contact['cpr'])} (phone {masked_phone(contact['phone'])}), readable for 30 days",
        ]

    def upload_after_end(self) -> list[str]:
        upload = self._tablet().new_upload(self._tablet().morning_readings(self.now()))
        expect(self._tablet().send(upload), 401, "upload after the episode ended")
        return ["-> 401: the credential stopped working at once"]

    def red_for_the_browser(self) -> list[str]:
        self.tokens["nurses"] = self.issuer.mint("clinician", organisation=NURSES_SOR, subject="demo-nurses")
        referral = {
            "referral_id": f"demo-browser-{int(self.now().timestamp())}",
            "citizen": {"cpr": BROWSER_CITIZEN_CPR, "name": BROWSER_CITIZEN_NAME,
                        "phone": BROWSER_CITIZEN_PHONE},
            "disease_area": "copd",
            "treating_organisation": GP_YDERNUMMER,
            "monitoring_organisation": NURSES_SOR,
            "logistics_centre": LOGISTICS_CENTRE_SOR,
            "schedule": {"per_week": 3},
        }
        episode = expect(self._call("POST", "/v1/referrals", "gp", referral), 201, "referral").body
        self.browser_episode_id = episode["episode_id"]
        registration = {"cpr": BROWSER_CITIZEN_CPR, "vendor": "Telehub Demo",
                        "model": "COPD home kit tablet", "serial": f"DEMO-B-{int(self.now().timestamp())}",
                        "measurement_types": list(COPD_KIT_TYPES)}
        device = expect(self._call("POST", "/v1/devices", "logistics", registration), 201,
                        "registration").body
        tablet, now = HomeTablet(self.api_url, device["credential"], seed=1507), self.now()
        # Measured just now, after the referral, so that each is judged against its thresholds.
        readings = [{**reading, "measured_at": now.isoformat()} for reading in tablet.morning_readings(now)]
        expect(tablet.send(tablet.new_upload(readings)), 202, "the morning's upload")
        spo2 = {"type": "spo2", "value": RED_SPO2, "unit": "%", "measured_at": self.now().isoformat(),
                "method": "automatic"}
        expect(tablet.send(tablet.new_upload([spo2])), 202, "RED upload")
        row = self._row("nurses", lambda row: (row["alarm"] or {}).get("colour") == "RED",
                        self.browser_episode_id)
        rows = expect(self._call("GET", "/v1/worklist", "nurses"), 200, "worklist").body["rows"]
        if rows[0]["episode_id"] != self.browser_episode_id:
            raise StepFailed("the RED row is not at the top of the nurses' worklist")
        return [
            f"citizen {masked_cpr(BROWSER_CITIZEN_CPR)} ({initials(BROWSER_CITIZEN_NAME)}): episode "
            f"{self.browser_episode_id}, monitored by {NURSES_SOR}, device {device['device_id']}",
            f"the morning's readings and SpO2 {RED_SPO2} % (below the default red limit of 88) -> 202",
            f"{NURSES_SOR}'s worklist: first row, alarm {row['alarm']['alarm_id']} RED, not acknowledged, "
            f"counts {_counts(row['counts'])}",
        ]

    def browser_guide(self) -> str:
        """What to do in the browser with the RED alarm the last step left open."""
        return f"""
In the browser: the clinician web app
    1. Open {self.api_url}/
    2. Sign in on the dev issuer's page as: Kliniker (clinician), Kommunens sygeplejersker, {NURSES_SOR}
       (the default choices; there is no password)
    3. The worklist shows the RED row of {initials(BROWSER_CITIZEN_NAME)} at the top: open it
    4. The SpO2 chart shows {RED_SPO2} % below the RED band; acknowledge the alarm with a note
    5. Back on the worklist the row is no longer RED
       (signed in as another organisation, the row is not there at all)"""

    def _call(self, method: str, path: str, who: str, body: Any = None) -> ApiReply:
        return call(method, f"{self.api_url}{path}", self.tokens[who], body)

    def _search(self, who: str, form: list[tuple[str, str]]) -> ApiReply:
        return call("POST", f"{self.api_url}/fhir/Observation/_search", self.tokens[who], form=form)

    def _received(self, organisation: str, until: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The Bundles on the organisation's sharing queue, read and deleted as its own system would, once one
        of them is ``until``; then a moment more, so that nothing still on its way is missed."""
        queue_url = self.queue_urls[SharingSubscriber(organisation).queue.id]
        bundles: dict[str, dict[str, Any]] = {}  # by Bundle id: a redelivery is the same Bundle
        deadline, settle_until = time.monotonic() + QUEUE_WAIT_SECONDS, None
        while time.monotonic() < (settle_until or deadline):
            for message in self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                                    WaitTimeSeconds=0).get("Messages", []):
                bundle = json.loads(message["Body"])
                bundles[bundle["id"]] = bundle
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if settle_until is None and any(until(bundle) for bundle in bundles.values()):
                settle_until = time.monotonic() + SETTLE_SECONDS
            time.sleep(0.05)
        if settle_until is None:
            raise StepFailed(f"nothing expected arrived on the queue of {organisation}")
        return sorted(bundles.values(), key=lambda bundle: bundle["timestamp"])

    def _received_nothing(self, *organisations: str) -> None:
        for organisation in organisations:
            queue_url = self.queue_urls[SharingSubscriber(organisation).queue.id]
            if self.sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0).get("Messages"):
                raise StepFailed(f"the queue of {organisation} received a citizen it has no relation to")

    def _tablet(self) -> HomeTablet:
        if self.tablet is None:
            raise StepFailed("no device was registered")
        return self.tablet

    def _row(self, who: str, ready: Callable[[dict[str, Any]], bool],
             episode_id: str | None = None) -> dict[str, Any]:
        """The episode's row (the demo citizen's, unless another is named) on ``who``'s worklist once
        ``ready``: uploads reach it asynchronously (the uploads table's stream, the measurements queue, the
        evaluator)."""
        episode_id = episode_id or self.episode_id
        deadline = time.monotonic() + WORKLIST_WAIT_SECONDS
        while True:
            rows: list[dict[str, Any]] = expect(self._call("GET", "/v1/worklist", who), 200,
                                                "worklist").body["rows"]
            row = next((row for row in rows if row["episode_id"] == episode_id), None)
            if row is not None and ready(row):
                return row
            if time.monotonic() > deadline:
                raise StepFailed(f"the episode's row on the {who}'s worklist is not as expected: {row}")
            time.sleep(0.1)

    def _order_contact(self, order: dict[str, Any]) -> dict[str, Any]:
        """The test citizen's contact details, read by the logistics centre through the API for an order whose
        message holds none of them."""
        if order["logistics_centre"] != LOGISTICS_CENTRE_SOR or order["patient_id"] != self.patient_id:
            raise StepFailed("the order is not for the test citizen's logistics centre")
        message = json.dumps(order)
        dashed_cpr = f"{TEST_CITIZEN_CPR[:6]}-{TEST_CITIZEN_CPR[6:]}"
        if any(secret in message for secret in (TEST_CITIZEN_CPR, dashed_cpr, TEST_CITIZEN_NAME,
                                                TEST_CITIZEN_PHONE)):
            raise StepFailed("the order message carries the citizen's CPR number, name or phone")
        path = f"/v1/episodes/{order['episode_id']}/orders/{order['order_id']}/contact"
        contact: dict[str, Any] = expect(self._call("GET", path, "logistics"), 200, "the contact").body
        if (contact["cpr"], contact["name"], contact["phone"]) != (TEST_CITIZEN_CPR, TEST_CITIZEN_NAME,
                                                                   TEST_CITIZEN_PHONE):
            raise StepFailed("the order's contact is not the test citizen's")
        return contact

    def _order(self, kind: str) -> dict[str, Any]:
        (order,) = self._peek(
            LOGISTICS_ORDERS_QUEUE,
            lambda body: body.get("episode_id") == self.episode_id and body.get("kind") == kind,
            1,
            key="order_id",
        )
        return order

    def _peek(self, queue: str, mine: Callable[[dict[str, Any]], bool], expected: int,
              key: str) -> list[dict[str, Any]]:
        """The bodies of this run's messages on the queue, read and put back (for the logistics centres'
        systems, which read them). The outboxes hand messages on asynchronously, so wait a little, then
        settle briefly so that a duplicate would show."""
        queue_url = self.queue_urls[queue]
        found: dict[str, dict[str, Any]] = {}
        bodies: list[dict[str, Any]] = []
        deadline = time.monotonic() + QUEUE_WAIT_SECONDS
        settle_until: float | None = None
        try:
            while time.monotonic() < (settle_until or deadline):
                for message in self.sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                    VisibilityTimeout=QUEUE_WAIT_SECONDS + 5,
                ).get("Messages", []):
                    found[message["MessageId"]] = message
                bodies = [body for body in (json.loads(m["Body"]) for m in found.values()) if mine(body)]
                if settle_until is None and len(bodies) >= expected:
                    settle_until = time.monotonic() + SETTLE_SECONDS
                time.sleep(0.05)
        finally:
            for message in found.values():  # visible again for the queue's consumers
                self.sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        if len(bodies) != expected or len({body[key] for body in bodies}) != expected:
            raise StepFailed(f"expected exactly {expected} message(s) on {queue}, found {len(bodies)}")
        return bodies
