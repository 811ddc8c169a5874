"""LLM-assisted labeling: client, response cache, prompts, strict parsing, taxonomy
generation (TnT-LLM phase 1), LLM labeling (phase 2), teacher reliability and
budgeted selection of documents to label (robust active distillation).

Everything that talks to an LLM goes through the small :class:`~tagsmith.labeling.client.LLMClient`
interface: :class:`~tagsmith.labeling.client.OpenAIChatClient` for any OpenAI-compatible
chat-completions endpoint, :class:`~tagsmith.labeling.client.ScriptedLLM` as the
in-process test double, and :class:`~tagsmith.labeling.cache.CachedClient` in front of
either so reruns cost nothing.
"""

#: the most votes per document (``LabelingOptions.votes``, ``label --votes``): each is a
#: paid call, and every vote of every document is a request built before the first is
#: sent (--votes 2**64 filled memory building them)
MAX_VOTES = 100
#: the share of a document's answered votes above which a label is the votes' agreed
#: one (more than half; ties and rounding slips are not): ``LLMLabels.majority`` and
#: ``Reliability.soft_targets``, which must split the labels alike
MAJORITY_SHARE = 0.5 + 1e-6
