"""Refusals: the model or a provider's safety system declining a document (a
trust-and-safety team labelling user reports meets them on every run). Each is counted
apart from failed calls and malformed answers, its document left unanswered and listed
for a person, the run going on; no message quotes the document's text."""

import json

import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.exceptions import LLMError, LLMRefusalError
from tagsmith.labeling.client import ChatRequest, OpenAIChatClient
from tagsmith.labeling.labeler import LabelingOptions, label_documents
from tagsmith.labeling.prompts import read_data_section
from tagsmith.testing.llm_server import LocalChatServer, Reply, user_prompt

from conftest import sport_vocab

tagsmith_cli._register_commands()

SPORT = json.dumps({"labels": [{"label": "sport", "confidence": 0.9}]})


def completion(content, finish="stop", **message):
    """A chat-completions reply body of one choice."""
    return json.dumps({"choices": [{"index": 0, "finish_reason": finish, "message": {
        "role": "assistant", "content": content, **message}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10}}).encode()


def declining(body):
    """A model and its provider as they meet user reports: each document's first word
    says how this one is declined (the rest is answered "sport")."""
    doc = read_data_section(user_prompt(body), "DOCUMENT")
    kind = doc.split()[0]
    if kind == "field":  # OpenAI's structured refusal
        return Reply(raw=completion(None, refusal="I'm sorry, I can't help with that."))
    if kind == "filtered":  # Azure OpenAI's filter on the output: nothing left
        return Reply(raw=completion(None, "content_filter"))
    if kind == "cut":  # the filter cut the answer: what came before is no answer
        return Reply(raw=completion(SPORT, "content_filter"))
    if kind == "azure":  # Azure OpenAI's filter on the prompt
        return Reply(status=400, raw=json.dumps({"error": {
            "message": "The response was filtered due to the prompt triggering Azure "
                       "OpenAI's content management policy.", "param": "prompt",
            "code": "content_filter", "status": 400, "innererror": {
                "code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                    "violence": {"filtered": True, "severity": "medium"}}}}}).encode())
    if kind == "policy":
        return Reply(status=400, raw=json.dumps({"error": {
            "message": "Your request was rejected as a result of our safety system.",
            "type": "invalid_request_error", "code": "content_policy_violation"}}).encode())
    if kind == "moderated":  # OpenRouter's moderation, quoting the flagged input
        return Reply(status=403, raw=json.dumps({"error": {
            "code": 403, "message": "Input was flagged for harassment", "metadata": {
                "reasons": ["harassment"], "flagged_input": doc}}}).encode())
    if kind == "prose":  # a local model's refusal, quoting the report
        return f'I\'m sorry, but I can\'t help with labelling "{doc}".'
    return SPORT


DECLINED = ["field", "filtered", "cut", "azure", "policy", "moderated", "prose"]


def reports(tmp_path):
    """A report a line: one declined each way, then two the model answers; each holds
    a phone number, as a report naming its harasser's may."""
    lines = [f"{kind} report: user at 555-0199 keeps messaging me" for kind in DECLINED]
    lines += ["plain report: sport talk at 555-0199", "another report: sport at 555-0199"]
    docs = tmp_path / "reports.txt"
    docs.write_text("".join(line + "\n" for line in lines))
    return docs, lines


def run_label(server, tmp_path, docs, *more):
    return CliRunner().invoke(tagsmith_cli.cli, [
        "label", str(docs), "--vocab", str(sport_vocab(tmp_path)), "-o",
        str(tmp_path / "out.jsonl"), "--base-url", server.base_url, "--llm", "t",
        "--max-retries", "2", "--cache", str(tmp_path / "c.sqlite"), *more])


def test_refusals_are_counted_apart_their_documents_listed_and_the_run_goes_on(tmp_path):
    # every refusal was "a failed call" (a prose one and a filter's cut answer "a
    # malformed answer"), and no output named which documents were left unanswered
    docs, lines = reports(tmp_path)
    with LocalChatServer(declining) as server:
        result = run_label(server, tmp_path, docs)
        assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])["labeling"]
    assert summary["n_refused_calls"] == len(DECLINED)
    assert summary["n_failed_calls"] == 0 and summary["n_malformed_answers"] == 0
    assert summary["refused_docs"] == [f"{docs}:{i + 1}" for i in range(len(DECLINED))]
    assert summary["first_error"] is None  # a refusal is no error of the endpoint's
    # each asked once: asking again gets the same, each try paid for
    assert len(server.requests) == len(lines)
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["text"] for row in written] == lines[len(DECLINED):]  # none labelled "none"
    assert "7 calls refused by the model or a content filter" in result.stderr
    assert "7 documents left unanswered, for a person" in result.stderr


def test_the_usage_counts_refusals_apart_from_failed_calls(tmp_path):
    # the JSON usage said "failed": 6 beside the labeling's n_failed_calls 0, and the
    # usage line of a run that failed "6 failed" for a run no call of which had failed
    docs, lines = reports(tmp_path)
    with LocalChatServer(declining) as server:
        result = run_label(server, tmp_path, docs)
        assert result.exit_code == 0, result.output
        usage = json.loads(result.stderr.strip().splitlines()[-1])["usage"]
        # a prose refusal too: it was an answered call in the usage ("refused": 6,
        # "requests": 3) where the labeling and the progress line counted it refused
        assert (usage["failed"], usage["refused"], usage["requests"]) == (0, len(DECLINED), 2)
        only = tmp_path / "only.txt"
        only.write_text("azure report\npolicy report\n")
        failed = run_label(server, tmp_path, only)
    assert failed.exit_code == 6
    assert "0 failed, 2 refused (billed)" in failed.stderr \
        and "2 calls refused" in failed.stderr


def test_a_run_of_over_a_thousand_refused_documents_counts_them_all(tmp_path):
    # the summary lists the first 1,000 refused documents: the failed run's error
    # counted "(N in all)" off that list, 1,000 where 1,005 were refused
    only = tmp_path / "queue.txt"
    only.write_text("".join(f"prose report {i}\n" for i in range(1_005)))
    with LocalChatServer(declining) as server:
        failed = run_label(server, tmp_path, only, "--concurrency", "8")
    assert failed.exit_code == 6
    error = failed.stderr[failed.stderr.index("error: "):]
    assert "Refused, for a person to take: " in error and "(1,005 in all)" in error


def test_a_run_every_document_of_which_is_refused_names_them(tmp_path):
    # the warning pointed at "the JSON summary's refused_docs", which a run that
    # answered no document never prints: the documents for a person were named nowhere
    only = tmp_path / "queue.txt"
    only.write_text("azure report one\npolicy report two\nmoderated report three\n")
    with LocalChatServer(declining) as server:
        failed = run_label(server, tmp_path, only)
    assert failed.exit_code == 6
    error = failed.stderr[failed.stderr.index("error: "):]
    assert "Refused, for a person to take: " in error
    assert all(f"{only}:{line}" in error for line in (1, 2, 3))
    assert "report one" not in error  # the ids, never the text


def test_with_a_budget_a_refused_documents_copies_are_listed_too(tmp_path):
    # active distillation never sends a copy (equal text, case and spacing aside): a
    # report filed twice and refused was listed once, its copy neither labelled nor
    # listed for a person (without a budget, a copy sharing its prompt is listed)
    docs = tmp_path / "reports.txt"
    docs.write_text("policy report one\nplain sport a\npolicy  report  ONE\n"
                    "plain sport b\nplain sport c\n")
    with LocalChatServer(declining) as server:
        result = run_label(server, tmp_path, docs, "--budget", "4")
        assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])["labeling"]
    assert summary["n_refused_calls"] == 1
    assert summary["refused_docs"] == [f"{docs}:1", f"{docs}:3"]


def test_a_human_sample_every_document_of_which_is_refused_names_them(tmp_path):
    # the warning pointed at the JSON summary's human_labeling.refused_docs, which a
    # run stopped for want of any answer in the sample never prints
    human = tmp_path / "human.tsv"
    human.write_text("plain sport\t<u:sport>\nazure report one\t<u:sport>\n"
                     "policy report two\t<u:music>\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("plain sport talk\n")
    with LocalChatServer(lambda body: declining(body) if "report" in user_prompt(body)
                         else "I cannot do much here") as server:
        failed = run_label(server, tmp_path, docs, "--human", str(human))
    assert failed.exit_code == 6, failed.output
    error = failed.stderr[failed.stderr.index("error: "):]
    assert "in the human sample" in error
    assert "Refused, for a person to take: the sample's documents #2, #3" in error


def test_no_message_of_a_refusal_quotes_the_document(tmp_path):
    # OpenRouter's moderation error quotes the flagged input, and a prose refusal may
    # quote the report: both were shown whole in the warning and the JSON summary
    docs, lines = reports(tmp_path)
    with LocalChatServer(declining) as server:
        result = run_label(server, tmp_path, docs)
        assert result.exit_code == 0, result.output
    assert "555-0199" not in result.stderr and "keeps messaging" not in result.stderr
    firsts = json.loads(result.stderr.strip().splitlines()[-1])["labeling"]["first_of_kind"]
    assert "refused" in firsts


@pytest.mark.parametrize("kind, said", [
    ("field", "the model refused to answer"),
    ("filtered", "content filter withheld the answer"),
    ("cut", "content filter cut the answer short"),
    ("azure", "content filter refused this document's prompt, code content_filter"),
    ("policy", "code content_policy_violation"),
    ("moderated", "moderation flagged this document's prompt"),
])
def test_each_refusal_of_the_client_is_one_not_retried(kind, said):
    # a filter's answer cut short, complete JSON before the cut, was taken as the answer
    with LocalChatServer(declining) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=3, backoff_base=0.01)
        request = ChatRequest("t", (
            {"role": "user", "content": f'<<<DOCUMENT\n"{kind} x"\nDOCUMENT>>>'},))
        with pytest.raises(LLMRefusalError, match=said):
            client.complete(request)
    assert len(server.requests) == 1
    # counted as refused, not failed (the Azure 400's comment said failed)
    assert (client.usage.n_refused, client.usage.n_failed) == (1, 0)


def test_a_refused_vote_of_a_document_another_vote_answered_leaves_it_answered():
    def voter(body):
        return (Reply(raw=completion(None, refusal="I can't help with that."))
                if body["seed"] == 0 else SPORT)

    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:sport", "u:music"],
                                 names={"u:sport": "sport", "u:music": "music"})
    with LocalChatServer(voter) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0)
        result = label_documents(["a match"], space, client,
                                 LabelingOptions(votes=2, n_workers=1))
    assert result.report.n_refused_calls == 1 and result.report.refused_docs == []
    assert result.answered.tolist() == [True]
    assert result.Y.toarray()[0].tolist() == pytest.approx([0.9, 0.0])


def test_a_prose_answer_that_is_no_refusal_stays_malformed():
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:sport"], names={"u:sport": "sport"})
    with LocalChatServer(lambda body: "The labels are sport and music.") as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0)
        result = label_documents(["a match"], space, client)
    assert result.report.n_malformed_answers == 1 and result.report.n_refused_calls == 0
    assert isinstance(LLMRefusalError("x"), LLMError)  # caught wherever a failure is


@pytest.mark.parametrize("said", [
    # "I'm not able to" and "I am not able to" were matched only without their "to",
    # which no model writes: these refusals were malformed answers, asked again on
    # every rerun, their text quoted in the warning
    "I'm not able to help with that.",
    "I\u2019m not able to assist with this request.",
    "I am not able to help with this report.",
    "I am unable to assist with that.",
])
def test_a_refusal_saying_it_is_not_able_to_help_is_one(said):
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:sport"], names={"u:sport": "sport"})
    with LocalChatServer(lambda body: said) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0)
        result = label_documents(["a report"], space, client)
    assert result.report.n_refused_calls == 1 and result.report.n_malformed_answers == 0
    assert result.report.refused_docs == [0]


@pytest.mark.parametrize("said", [
    # a model refusing in the corpus's language: a malformed answer, asked again on
    # every rerun, its text (which may echo the report) quoted in the warning
    "Ich kann dabei nicht helfen.", "Je ne peux pas vous aider.",
    "No puedo ayudar con eso.", "En voi auttaa tässä.", "Jag kan inte hjälpa till.",
])
def test_a_refusal_in_another_language_is_one(said):
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:sport"], names={"u:sport": "sport"})
    with LocalChatServer(lambda body: said) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0)
        result = label_documents(["a report"], space, client)
    assert result.report.n_refused_calls == 1 and result.report.n_malformed_answers == 0
    quoted = result.report.first_of_kind["refused"].split('(it said "')[1]
    assert said.startswith(quoted.removesuffix('")'))  # its refusing words


def test_a_rerun_tells_the_refusals_from_the_cache_and_asks_again_only_when_told(tmp_path):
    # every rerun asked each refused document again, paid for (and, at a hosted
    # provider, one more flag on the account), and a prose refusal left the cache
    docs, lines = reports(tmp_path)
    with LocalChatServer(declining) as server:
        first = run_label(server, tmp_path, docs)
        assert first.exit_code == 0, first.output
        assert len(server.requests) == len(lines)
        again = run_label(server, tmp_path, docs)
        assert again.exit_code == 0, again.output
        assert len(server.requests) == len(lines)  # nothing asked: all from the cache
        summary = json.loads(again.stderr.strip().splitlines()[-1])
        assert summary["labeling"]["n_refused_calls"] == len(DECLINED)
        assert summary["labeling"]["refused_docs"] == json.loads(
            first.stderr.strip().splitlines()[-1])["labeling"]["refused_docs"]
        assert summary["usage"]["requests"] == 0 and summary["usage"]["failed"] == 0
        assert "--retry-refused asks again" in summary["labeling"]["first_of_kind"]["refused"]
        retried = run_label(server, tmp_path, docs, "--retry-refused")
        assert retried.exit_code == 0, retried.output
        # the refused ones alone asked again, each once
        assert len(server.requests) == len(lines) + len(DECLINED)
        asked_again = [read_data_section(user_prompt(body), "DOCUMENT").split()[0]
                       for body in server.requests[len(lines):]]
        assert sorted(asked_again) == sorted(DECLINED)


def test_a_refusal_answered_when_asked_again_is_labelled_and_told_no_more(tmp_path):
    docs, lines = reports(tmp_path)
    with LocalChatServer(declining) as server:
        assert run_label(server, tmp_path, docs).exit_code == 0
    with LocalChatServer(lambda body: SPORT) as server:  # a model that answers them all
        retried = run_label(server, tmp_path, docs, "--retry-refused")
        assert retried.exit_code == 0, retried.output
        assert len(server.requests) == len(DECLINED)
        again = run_label(server, tmp_path, docs)
        assert again.exit_code == 0, again.output
        assert len(server.requests) == len(DECLINED)
    summary = json.loads(again.stderr.strip().splitlines()[-1])["labeling"]
    assert summary["n_refused_calls"] == 0 and summary["refused_docs"] == []
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == len(lines)


def test_the_cache_keeps_refusals_apart_from_answers(tmp_path):
    import sqlite3

    from tagsmith.exceptions import DataError
    from tagsmith.labeling.cache import ResponseCache

    asked = ChatRequest("m", ({"role": "user", "content": "a report"},))
    path = tmp_path / "c.sqlite"
    with sqlite3.connect(path) as older:  # a cache a tagsmith without refusals wrote
        from tagsmith.labeling.cache import SCHEMA

        older.execute(SCHEMA)
    with ResponseCache(path) as cache:
        cache.put_refusal(asked, "the model refused to answer")
        assert cache.get(asked) is None and len(cache) == 0  # no answer
        assert cache.get_refusal(asked) == "the model refused to answer"
        assert cache.discard_refusal(asked) and cache.get_refusal(asked) is None
    with sqlite3.connect(path) as edited:  # a refusals table of other columns is refused
        edited.execute("DROP TABLE refusals")
        edited.execute("CREATE TABLE refusals (key TEXT, reason TEXT)")
    with pytest.raises(DataError, match="its refusals table has the columns key, reason"):
        ResponseCache(path)


def test_refusals_in_a_row_do_not_stop_the_run_as_an_endpoint_down(tmp_path):
    # ten requests in a row that "failed" stopped the run, saying the endpoint was
    # down: twelve self-harm reports in a row (a queue sorted by category) did
    docs = tmp_path / "reports.txt"
    docs.write_text("".join(f"azure report {i}\n" for i in range(12))
                    + "plain report: sport\n")
    with LocalChatServer(declining) as server:
        result = run_label(server, tmp_path, docs, "--concurrency", "1")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])["labeling"]
    assert summary["n_refused_calls"] == 12 and len(summary["refused_docs"]) == 12
    assert len(server.requests) == 13
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1


@pytest.mark.parametrize("said, refused", [
    # JSON mode's refusals: the empty list was taken for "no label applies", the report
    # trained as a negative of every label (self-harm too)
    ('{"labels": [], "note": "I\'m sorry, but I can\'t help with this content."}', True),
    ('{"error": "I cannot assist with that request."}', True),  # was malformed
    ('{"refusal": "I must decline to label this."}', True),
    # an answer that no label applies, explained, is one
    ('{"labels": [], "note": "I cannot classify it as any of these."}', False),
    ('{"labels": []}', False),
])
def test_a_refusal_in_json_is_no_answer_that_no_label_applies(said, refused, tmp_path):
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import CachedClient

    space = LabelSpace.from_uris(["u:sport"], names={"u:sport": "sport"})
    with LocalChatServer(lambda body: said) as server:
        for _ in range(2):  # the second run from the cache, which keeps the refusal
            client = CachedClient(OpenAIChatClient(server.base_url, "t", max_retries=0),
                                  ResponseCache(tmp_path / "c.sqlite"), keep_refusals=True)
            with client:
                result = label_documents(["a report"], space, client)
            assert result.answered.tolist() == [not refused]
            assert result.report.n_refused_calls == int(refused)
            assert result.report.refused_docs == ([0] if refused else [])
            assert result.report.n_malformed_answers == 0
        assert len(server.requests) == 1


@pytest.mark.parametrize("refusal, quoted", [
    ('I can\'t help label "{doc}": it names a person.', "I can't help"),
    ('Declined: "{doc}".', None),  # no refusing words to quote: nothing of it is
])
def test_the_models_own_refusal_is_quoted_by_its_refusing_words_alone(refusal, quoted,
                                                                     tmp_path):
    # OpenAI's message.refusal was quoted whole (its first 200 characters): one echoing
    # the report put its phone number in the warning, first_of_kind.refused and the
    # cache's refusals table
    import sqlite3

    def echoing(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        return Reply(raw=completion(None, refusal=refusal.format(doc=doc)))

    docs = tmp_path / "reports.txt"
    docs.write_text("user at 555-0199 keeps messaging me\nplain sport at 555-0199\n")
    with LocalChatServer(lambda body: echoing(body) if "messaging" in user_prompt(body)
                         else SPORT) as server:
        result = run_label(server, tmp_path, docs)
        assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])["labeling"]
    assert summary["n_refused_calls"] == 1
    said = summary["first_of_kind"]["refused"]
    assert "the model refused to answer" in said
    assert (f'it said "{quoted}"' in said) if quoted else "said" not in said
    with sqlite3.connect(tmp_path / "c.sqlite") as cache:
        kept = [reason for (reason,) in cache.execute("SELECT reason FROM refusals")]
    assert len(kept) == 1
    for shown in (result.stderr, *kept):
        assert "555-0199" not in shown and "messaging" not in shown


def test_a_refusal_asked_again_with_retry_refused_is_counted_once(tmp_path):
    # each refusal the cache told and --retry-refused asked again counted twice in the
    # usage: as cached and as the new call (3 documents read "cached: 3" beside 2 calls)
    docs = tmp_path / "reports.txt"
    docs.write_text("policy report one\nprose report two\nplain sport three\n")
    with LocalChatServer(declining) as server:
        assert run_label(server, tmp_path, docs).exit_code == 0
        retried = run_label(server, tmp_path, docs, "--retry-refused")
        assert retried.exit_code == 0, retried.output
        assert len(server.requests) == 3 + 2
    usage = json.loads(retried.stderr.strip().splitlines()[-1])["usage"]
    # the answered one from the cache; the prose refusal and the
    # content_policy_violation refusals (the prose one was an answered call)
    assert (usage["cached"], usage["requests"], usage["refused"]) == (1, 0, 2)


def test_the_warning_says_which_refusals_retry_refused_asked_again(tmp_path):
    # the warning said "(not retried; ...)" of the refusals --retry-refused had just
    # asked again
    docs = tmp_path / "reports.txt"
    docs.write_text("policy report one\nprose report two\nplain sport three\n")
    with LocalChatServer(declining) as server:
        first = run_label(server, tmp_path, docs)
        assert first.exit_code == 0 and "refused by the model or a content filter (not " \
            "retried; 2 documents" in first.stderr
        retried = run_label(server, tmp_path, docs, "--retry-refused")
        assert retried.exit_code == 0, retried.output
        assert "2 calls refused by the model or a content filter (asked again with " \
            "--retry-refused, refused again; 2 documents" in retried.stderr
        docs.write_text("policy report one\nazure report new\nplain sport three\n")
        mixed = run_label(server, tmp_path, docs, "--retry-refused")
        assert mixed.exit_code == 0, mixed.output
    assert "2 calls refused by the model or a content filter (1 of them asked again " \
        "with --retry-refused, refused again, the rest not retried; 2 documents" \
        in mixed.stderr
    # the JSON summary counted the refusals but not those asked again, which the
    # warning alone said
    again = [json.loads(run.stderr.strip().splitlines()[-1])["labeling"]
             for run in (first, retried, mixed)]
    assert [(summary["n_refused_calls"], summary["n_refused_again"])
            for summary in again] == [(2, 0), (2, 2), (2, 1)]


REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I cannot assist with this request.",
    "I'm not able to help with that.",
    "I won't engage with this content.",
    "I must decline to label this.",
    "I'm unable to assist with requests involving self-harm.",
    "Sorry, I can't support this request.",
    "I cannot comply with that request.",
    "I will not process this content.",
    "I can't continue with this.",
    "I can\u2019t help with this.",
    "I cannot support that.",
    "I can't support requests like this one.",
    "Sorry, I can't help.",
    "I'm sorry, I can't help, but a counsellor can.",
    "I can't help labelling this report.",
    # a word ending in -ing that is no gerund: taken for "I can't help noticing"
    "I cannot assist regarding this request.",
    "I can't help concerning that.",
    "I'm unable to help during this conversation with that request.",
    # hosted models' other words for it: each was a malformed answer
    "I'm unable to fulfill this request.",
    "I cannot fulfil that request.",
    "I won't be able to help with this.",
    "I'm not going to help with that.",
    "I have to decline this request.",
    "I'm sorry, I can't provide that.",
    "I'm not able to provide assistance with this request.",
    "I cannot complete this task.",
    # the model's own words beside a quotation or an aside naming a speaker
    '"I can\'t help with that."',
    "I'm sorry, but as the platform's policy states, I can't help with this.",
    'I can\'t help with "the user says they are unable to help it".',
    # an apology, or the model's rules, saying the refusal: taken for reported speech
    "I'm sorry, but the content policy says I can't help with that.",
    "OpenAI's usage policy states I can't help with that.",
    "Unfortunately, the platform's guidance says I cannot assist with this request.",
    # the model itself the speaker: taken for reported speech
    "I said I can't help with that.",
    "No, I've already explained that I cannot assist with this request.",
    # an aside opened by "said": taken for reported speech, the refusal missed
    "That said, I can't help with that.",
    "That being said, I cannot assist with this request.",
    "With that said, I can't help with this.",
    # "said that" closing the aside, a comma after it: taken for "she said that, ..."
    # (reported speech), the refusal missed
    "Having said that, I can't help with that.",
    "Now that I've said that, I cannot assist with this request.",
    # a straight quote left open, "closed" by a plural's possessive: taken for a quotation
    "The text is about threats. 'I can't help with leaking users' data.",
    "The text is about threats. \u2018I can\u2019t help with leaking users\u2019 data.",
    "The text is about threats. 'I can't help with leaking users' personal data.",
    # a bare "unable to help": the model, "we", no subject, or the model by name
    "We are unable to help with that.",
    "Sorry, unable to help with that.",
    "Unfortunately, unable to assist with this request.",
    "The request is harmful; unable to help.",
    "I was unable to help with that request.",
    "I remain unable to help with this.",
    "This assistant is unable to help with that request.",
    "They're unable to help with the move; unable to comply with this request.",
    # the model by its product name after an apology: the batch read the name as
    # someone else's and the refusal as the document's words
    "Sorry, ChatGPT is unable to help with that.",
    "Apologies, but Claude is unable to assist with this request.",
    # the model by its product name with no apology, or the apology a sentence of its
    # own before: each read as someone else's words, a note
    "Unfortunately, ChatGPT is unable to help.",
    "Unfortunately, GPT-4o is unable to assist with this request.",
    "I'm sorry. This service is unable to help with that.",
    "I apologize! The tool is unable to assist with this request.",
    # a word of another language's verbs of saying that is also English ("dice",
    # "cite", "plaint"), or an English one that is also a noun ("claims", "states"),
    # before an English refusal: read as reported speech, the refusal missed
    "Roll the dice, I can't help with gambling.",
    "Whatever sources you cite, I can't help with that.",
    "Whatever the plaint, I cannot assist with this request.",
    "About insurance claims, I can't help with that.",
    "Under the laws of several states, I cannot assist with this request.",
    "Despite the news reports, I can't help with that.",
    # an opening phrase before a comma that no comma after closes, no aside naming
    # someone: read as "The customer, unable to help her mother, ...", a note
    "That said, unable to help with that.",
    "This time, unable to assist with this request.",
    "That being said, unable to assist with this request.",
]
#: answers that no label applies, explained in words close to a refusal's: each counted
#: a refusal, the document left for a person where it had been answered
NONE_APPLIES = [
    "I cannot help but note that none of these labels apply.",
    "I can't help but notice the text is about the weather; no label fits.",
    "I can not help but conclude that no label applies.",
    "I can't support any of these labels: the text is about cooking.",
    "I cannot support assigning any label here.",
    "I can't support the sport label from this text alone.",
    "I am unable to support either label with this evidence.",
    "I can't support labelling this as sport or music.",
    "I'm unable to support a label: the report is about billing.",
    "None of the labels apply.",
    "I cannot classify it as any of them.",
    "I couldn't find a label that fits.",
    # the same idiom with a gerund: each was a refusal
    "I can't help noticing the text is about billing; no label fits.",
    "I cannot help thinking none of these labels apply.",
    "I can\u2019t help feeling that no label fits here.",
    "I can't provide a label: none of them fits.",
    "I cannot provide any label for a text about cooking.",
]
#: refusals in the other languages tagsmith's users label in: each was a malformed
#: answer (in prose), or an answer that no label applies (beside an empty labels list)
OTHER_REFUSALS = [
    "Ich kann dabei nicht helfen.",
    "Es tut mir leid, aber dabei kann ich Ihnen leider nicht helfen.",
    "Ich kann diese Anfrage nicht bearbeiten.",
    "Je ne peux pas vous aider avec cela.",
    "Désolé, je ne peux pas répondre à cette demande.",
    "Je ne suis pas en mesure d'aider.",
    "Lo siento, no puedo ayudar con eso.",
    "No puedo cumplir con esta solicitud.",
    "En voi auttaa tässä.",
    "Valitettavasti en pysty auttamaan tämän kanssa.",
    "En voi käsitellä tätä pyyntöä.",
    "Jag kan inte hjälpa till med det.",
    "Det kan jag tyvärr inte hjälpa till med.",
    "Jag måste avböja.",
    # the model's own words after a verb of saying, in each language: its first person
    # speaking, an apology or its rules, or an aside
    "Ich habe bereits gesagt, ich kann dabei nicht helfen.",
    "Es tut mir leid, aber die Richtlinie besagt, ich kann dabei nicht helfen.",
    "Je l'ai déjà dit : je ne peux pas vous aider.",
    "Désolé, mais la politique indique que je ne peux pas vous aider.",
    "Cela dit, je ne peux pas vous aider.",
    "Ya he dicho que no puedo ayudar con eso.",
    "Lo siento, pero la política dice que no puedo ayudarte.",
    "Como dice la política, no puedo ayudarte.",
    "Olen jo sanonut, että en voi auttaa tässä.",
    "Valitettavasti käytäntö toteaa, että en voi auttaa tässä.",
    "Jag har redan sagt att jag kan inte hjälpa till med det.",
    "Tyvärr säger riktlinjerna att jag kan inte hjälpa till.",
    "Med det sagt kan jag inte hjälpa till med det.",
    "Cela étant dit, je ne peux pas vous aider.",
    "Ceci étant dit, je ne peux pas vous aider.",
]
#: their answers that no label applies, and the "can't help but" idiom
OTHER_NONE_APPLIES = [
    "Ich kann kein Label zuordnen: der Text handelt vom Wetter.",
    "Ich kann das Label Sport nicht unterstützen.",
    "Je ne peux pas attribuer d'étiquette à ce texte.",
    "Je ne peux pas m'empêcher de noter qu'aucune étiquette ne convient.",
    "No puedo asignar ninguna etiqueta.",
    "No puedo evitar notar que ninguna etiqueta aplica.",
    "En voi antaa tunnistetta tälle tekstille.",
    "En voi olla huomaamatta, että mikään ei sovi.",
    "Jag kan inte tilldela någon etikett.",
    "Jag kan inte låta bli att notera att ingen etikett passar.",
    "Der Kunde schreibt: 'Ich kann meiner Mutter nicht mehr helfen'.",
    'Asiakas kirjoittaa: "En voi auttaa äitiäni enää".',
]
#: notes that report the document's own first-person words, quoted or in reported
#: speech: each was a refusal, the document left for a person
QUOTED_NOTES = [
    "The text quotes a customer: 'I can't assist my mother anymore'; no label fits.",
    "The text quotes a customer: \u2018I can\u2019t assist my mother anymore\u2019.",
    'The writer says "I cannot help it" about their spending; none applies.',
    "The report quotes \u201cI won't comply with the court order\u201d: none fits.",
    "The user says they are unable to help it; no label fits.",
    "The customer writes: I can't assist my mother anymore. No label applies.",
    "She said that I cannot help her, the report claims; none of the labels fits.",
    "The customer writes: I said I can't help anymore. No label applies.",
    "The text reads, I said I cannot help her; none fits.",
    "The text quotes a customer: 'I can't assist my sons' she said; no label fits.",
    "The text quotes a customer: 'I can't assist my parents' friends'; no label fits.",
    # a plural's possessive, then one closing the quote before an adverb: the quote was
    # left open to the end, its refusing words a refusal
    "The text quotes a customer: 'I can't assist my parents' friends' anymore; none fits.",
    "The text quotes a customer: \u2018I can\u2019t assist my parents\u2019 friends\u2019 "
    "anymore; none fits.",
    "The text quotes: 'I can't help my parents' friends' now. No label fits.",
    # "we" is no speaker of the model's, which refuses as "I": a sentence of "we" and a
    # verb of saying is the document's words reported, as "She said ..." is
    "We said we can't help.",
    "We said we are unable to help with that; no label fits.",
    "He said I can't help him; none applies.",
]
#: notes saying someone in the document is unable to help: a third person, a form of
#: "be", then the words a bare "unable to help" refusal has; each was a refusal, the
#: document left for a person
SOMEONE_ELSE_UNABLE = [
    "The customer is unable to help with the move; no label fits.",
    "They are unable to help with the move; none applies.",
    "The landlord was still unable to help; no label fits.",
    "She's unable to assist her mother; none applies.",
    "My neighbours are unable to comply with the order; no label fits.",
    "The agency has been unable to help them; none fits.",
    "They\u2019ve been unable to help; no label applies.",
    "The writer seems unable to help it. None of the labels fits.",
    # someone named before a comma, or "you" (the document's words to its reader):
    # each was a refusal
    "The customer, unable to help her mother, asks about billing; no label fits.",
    "My landlord, unable to help, sent me here; none applies.",
    "You are unable to help with the move, the letter says; no label fits.",
    "You're unable to assist them, it reads. None of the labels fits.",
]
#: the same in the other languages, the document's words reported after a verb of
#: saying: each was a refusal (the verbs were English only), where the English is none
OTHER_REPORTED_NOTES = [
    "Der Kunde sagt, ich kann ihm nicht helfen.",
    "Der Kunde schreibt: Ich kann meiner Mutter nicht helfen. Kein Label passt.",
    "Le client dit : je ne peux pas vous aider.",
    "Le client écrit que je ne peux pas vous aider ; aucune étiquette ne convient.",
    "El cliente dice que no puedo ayudarle.",
    "La clienta escribió: no puedo ayudar a mi madre. Ninguna etiqueta aplica.",
    "Asiakas sanoo, että en voi auttaa häntä.",
    "Asiakas kirjoittaa: en voi auttaa äitiäni enää.",
    "Kunden säger att jag kan inte hjälpa honom.",
    "Kunden skriver: jag kan inte hjälpa till. Ingen etikett passar.",
]


@pytest.mark.parametrize("note, refused", [(note, True) for note in REFUSALS + OTHER_REFUSALS]
                         + [(note, False) for note in NONE_APPLIES + QUOTED_NOTES
                            + OTHER_NONE_APPLIES + OTHER_REPORTED_NOTES
                            + SOMEONE_ELSE_UNABLE])
def test_the_refusal_words_tell_a_refusal_from_a_note_that_none_applies(note, refused):
    # "I cannot help but note none apply" and "I can't support any of these labels"
    # counted as refusals: {"labels": [], "note": ...} of an honest "none applies" was
    # one, its document left unanswered
    from tagsmith.labeling.labeler import is_prose_refusal, json_refusal

    assert (json_refusal(json.dumps({"labels": [], "note": note})) is not None) == refused
    assert is_prose_refusal(note) == refused


def test_a_note_quoting_the_documents_own_refusing_words_answers_none_applies():
    # "The text quotes a customer: 'I can't assist my mother anymore'" beside an empty
    # labels list was a refusal: the document left unanswered, for a person, where the
    # model had answered that no label applies
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:sport"], names={"u:sport": "sport"})
    notes = [json.dumps({"labels": [], "note": note}) for note in QUOTED_NOTES]
    with LocalChatServer(lambda body: notes[int(read_data_section(
            user_prompt(body), "DOCUMENT").split()[1])]) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0)
        result = label_documents([f"report {i}" for i in range(len(notes))], space,
                                 client, LabelingOptions(n_workers=1))
    assert result.report.n_refused_calls == 0 and result.report.refused_docs == []
    assert result.answered.all() and result.report.n_docs_without_labels == len(notes)


def test_the_progress_line_says_the_refused_calls_apart_from_the_answered(tmp_path,
                                                                         caplog):
    # "2/2 calls (100%) answered 2 cached 0" was said of two prose refusals, and "answered
    # 0" of two refused by a filter, the refusals named nowhere in the line
    docs = tmp_path / "reports.txt"
    docs.write_text("policy report one\nprose report two\nplain sport three\n")
    lines, usages = [], []
    with LocalChatServer(declining) as server:
        for _ in range(2):  # the second told from the cache: cached
            caplog.clear()
            result = run_label(server, tmp_path, docs)
            assert result.exit_code == 0, result.output
            lines.append([line for line in caplog.messages if "calls (" in line])
            usage = json.loads(result.stderr.strip().splitlines()[-1])["usage"]
            usages.append((usage["requests"], usage["refused"], usage["cached"]))
    assert lines == [["LLM labeling: 3/3 calls (100%) answered 1 refused 2 cached 0"],
                     ["LLM labeling: 3/3 calls (100%) answered 0 cached 3"]]
    # the usage agrees: it said 2 requests answered, 1 refused, of the first run,
    # counting the prose refusal answered
    assert usages == [(1, 2, 0), (0, 0, 3)]


def test_retry_refused_asks_again_a_refusal_naming_none_as_its_label(tmp_path):
    # {"labels": [{"label": "none"}], "note": "I can't help"} is counted a refusal, its
    # document listed for a person, but --retry-refused never asked it again: the
    # cache's check read it as a refusal only beside an empty labels list
    refusing = json.dumps({"labels": [{"label": "none", "confidence": 1.0}],
                           "note": "I'm sorry, I can't help with this."})
    docs, lines = reports(tmp_path)
    with LocalChatServer(lambda body: refusing if "plain" in user_prompt(body)
                         else SPORT) as server:
        first = run_label(server, tmp_path, docs)
        assert first.exit_code == 0, first.output
        summary = json.loads(first.stderr.strip().splitlines()[-1])["labeling"]
        assert summary["n_refused_calls"] == 1 and len(summary["refused_docs"]) == 1
        assert len(server.requests) == len(lines)
        retried = run_label(server, tmp_path, docs, "--retry-refused")
        assert retried.exit_code == 0, retried.output
        assert len(server.requests) == len(lines) + 1  # the refused one asked again
        summary = json.loads(retried.stderr.strip().splitlines()[-1])["labeling"]
        assert summary["n_refused_calls"] == 1 and summary["n_refused_again"] == 1


def _plain_refused_another_none(refusing, saying_none):
    """An endpoint answering ``refusing`` for the plain report, ``saying_none`` for the
    other one and sport for the rest."""
    def answer(body):
        prompt = user_prompt(body)
        return refusing if "plain" in prompt else saying_none if "another" in prompt else SPORT
    return answer


def _labeling_summary(server, tmp_path, docs):
    """A label run's labeling summary, the run having succeeded."""
    result = run_label(server, tmp_path, docs)
    assert result.exit_code == 0, result.output
    return json.loads(result.stderr.strip().splitlines()[-1])["labeling"]


def test_a_refusal_written_inside_a_none_label_item_is_a_refusal_not_no_label(tmp_path):
    # {"labels": [{"label": "none", "reason": "I can't help"}]} was read as the answer
    # that no label applies (written with no label: a negative of every label); only a
    # string beside the labels list was looked at for words declining the task
    refusing = json.dumps({"labels": [{"label": "none", "confidence": 1.0,
                                       "reason": "I'm sorry, but I can't help with this."}]})
    saying_none = json.dumps({"labels": [{"label": "none", "confidence": 1.0,
                                          "reason": "No label fits this report."}]})

    docs, lines = reports(tmp_path)
    with LocalChatServer(_plain_refused_another_none(refusing, saying_none)) as server:
        summary = _labeling_summary(server, tmp_path, docs)
        assert summary["n_refused_calls"] == 1
        assert summary["refused_docs"] == [f"{docs}:{len(DECLINED) + 1}"]  # the plain one
        assert summary["n_no_label_named_answers"] == 1  # the other "none": no label fits
        # the refused one is left unanswered, not written with no label
        written = (tmp_path / "out.jsonl").read_text().splitlines()
        assert len(written) == len(lines) - 1
        # the cache's check reads it as the labeling does: --retry-refused asks it again
        retried = run_label(server, tmp_path, docs, "--retry-refused")
        assert retried.exit_code == 0, retried.output
        assert len(server.requests) == len(lines) + 1


def test_a_none_item_without_a_confidence_says_no_label_applies_and_beside_a_refusal_refuses(
        tmp_path):
    # {"labels": [{"label": "none"}]} (models often leave the confidence out for "none")
    # was an invalid item: a malformed answer, dropped from the cache and asked again on
    # every rerun, and beside words declining the task counted malformed, not refused
    refusing = json.dumps({"labels": [{"label": "none"}],
                           "note": "I'm sorry, but I can't help with this."})
    saying_none = json.dumps({"labels": [{"label": "None", "confidence": None}]})

    docs, lines = reports(tmp_path)
    with LocalChatServer(_plain_refused_another_none(refusing, saying_none)) as server:
        summary = _labeling_summary(server, tmp_path, docs)
        assert summary["n_malformed_answers"] == 0
        assert summary["n_refused_calls"] == 1
        assert summary["refused_docs"] == [f"{docs}:{len(DECLINED) + 1}"]  # the plain one
        assert summary["n_no_label_named_answers"] == 1  # the other: none applies
        written = [json.loads(line) for line in
                   (tmp_path / "out.jsonl").read_text().splitlines()]
        assert len(written) == len(lines) - 1 and written[-1]["labels"] == []
        asked = len(server.requests)
        # kept in the cache as the labeling read it: a rerun asks nothing again, and
        # --retry-refused the refusal alone
        again = run_label(server, tmp_path, docs)
        assert again.exit_code == 0, again.output
        assert len(server.requests) == asked
        retried = run_label(server, tmp_path, docs, "--retry-refused")
        assert retried.exit_code == 0, retried.output
        assert len(server.requests) == asked + 1


def test_a_none_item_without_a_confidence_is_no_such_answer_where_a_label_is_so_named():
    # as with a confidence: a vocabulary's own "None" label keeps the name
    from tagsmith.data.vocab import Label, LabelSpace
    from tagsmith.exceptions import RejectedItemsError
    from tagsmith.labeling.labeler import says_no_label
    from tagsmith.labeling.parsing import LabelResolver, parse_label_answer

    def verdict(space, answer):
        with pytest.raises(RejectedItemsError) as caught:
            parse_label_answer(answer, LabelResolver(space, ()))
        return says_no_label(caught.value, space)

    plain = LabelSpace([Label("u:sport", {"en": "sport"})])
    named = LabelSpace([Label("u:sport", {"en": "sport"}), Label("u:n", {"en": "None"})])
    assert verdict(plain, '{"labels": [{"label": "none"}]}')
    assert verdict(plain, '{"labels": [{"label": "N/A"}, {"label": "none", "confidence": 1}]}')
    assert not verdict(named, '{"labels": [{"label": "none"}]}')
    # a confidence given but invalid, or a real name without one, is no such answer
    assert not verdict(plain, '{"labels": [{"label": "none", "confidence": "high"}]}')
    assert not verdict(plain, '{"labels": [{"label": "none"}, {"label": "sport"}]}')


@pytest.mark.parametrize("text, refused", [
    ('{"labels": [{"label": "sport", "confidence": 0.9}], "note": "A match report."}', False),
    ('{"labels": [{"label": "none", "reason": "No label fits."}]}', False),
    ('{"labels": [], "note": "I\'m sorry, but I can\'t help with this."}', True),
    ('{"error": "I cannot assist with that"}', True),
    ('{"labels": [{"label": "none", "confidence": 1, "reason": "I can\'t help."}]}', True),
    ('{"labels": [{"label": "none", "confidence": 1}], "note": "I can\'t help."}', True),
    ('{"labels": [{"label": "sport"}], "note": "I can\'t help with this."}', False),
    ("I'm sorry, but I can't help with that.", True),
])
def test_the_cache_reads_an_answer_saying_no_refusing_words_once(monkeypatch, text, refused):
    # the refusal check the cache runs on every answer it serves read each answer's JSON
    # object twice (is_prose_refusal's search, then the one in items too): once, the
    # answers it reads as refusals the same
    import tagsmith.labeling.labeler as labeler
    import tagsmith.labeling.parsing as parsing
    from tagsmith.data.vocab import Label, LabelSpace
    from tagsmith.labeling.parsing import LabelResolver

    space = LabelSpace([Label("u:sport", {"en": "sport"})])
    real = parsing.extract_json_object
    reads = []

    def counted(*args, **kwargs):
        reads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(parsing, "extract_json_object", counted)
    assert labeler._is_refusal(text, space, LabelResolver(space, ())) is refused
    if "help" not in text and "assist" not in text:  # no words declining the task
        assert len(reads) == 1
