import { test } from "node:test";
import assert from "node:assert/strict";
import { Api } from "../src/api";
import type { QuestionnaireAnswer } from "../src/api";
import { translateKnown, translator } from "../src/i18n";

const answer = (answerId: string, questionId: string, value: string): QuestionnaireAnswer => ({
  answer_id: answerId, question_id: questionId, answer: value, answered_at: "2026-11-25T08:00:00Z",
  colour: value === "yes" ? "RED" : "GREEN", late: false, alarm_id: null,
});
const reply = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });

test("Given an episode's answers on two pages, when read, then every page is followed in the API's order", async () => {
  const urls: string[] = [];
  const pages = [
    { answers: [answer("ans_2", "coloured_sputum", "yes")], next_cursor: "c1" },
    { answers: [answer("ans_1", "coloured_sputum", "no")], next_cursor: null },
  ];
  const api = new Api({
    token: () => "t",
    onUnauthorized: () => assert.fail("not a 401"),
    fetch: async (url) => {
      urls.push(String(url));
      return reply(pages[urls.length - 1]);
    },
  });
  const answers = await api.answers("epi_1");
  assert.deepEqual(answers.map((a) => a.answer_id), ["ans_2", "ans_1"]);
  assert.deepEqual(urls, ["/v1/episodes/epi_1/answers?limit=100", "/v1/episodes/epi_1/answers?limit=100&cursor=c1"]);
});

test("Given the COPD questionnaire's ids and answers, then both languages word them, and an unknown id is shown as it is", () => {
  const questions = ["more_breathless_than_usual", "more_cough_than_usual", "coloured_sputum", "more_breathless_and_more_cough"];
  for (const language of ["da", "en"] as const) {
    const t = translator(language);
    for (const question of questions) assert.notEqual(translateKnown(t, "question", question), question, `${language} ${question}`);
    assert.equal(translateKnown(t, "answer", "yes"), language === "da" ? "ja" : "yes");
  }
  assert.equal(translateKnown(translator("da"), "question", "a_new_question"), "a_new_question");
  assert.equal(translateKnown(translator("en"), "question", "coloured_sputum"), "Coloured sputum?");
});
