"""OpenAI Chat Completions wire types, named like the ``openai`` SDK's.

Requests are lenient the way the Claude API's OpenAI layer is: fields we do not use
(``logprobs``, ``seed``, ``presence_penalty``, ``user``...) are accepted and ignored, but
the fields we do use are type-checked. Responses follow the SDK's ``ChatCompletion`` and
``ChatCompletionChunk``; in chunk deltas absent fields are left out, as OpenAI sends them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from epistula.protocol.messages import ThinkingConfig


class OpenAIRequestModel(BaseModel):
    """Unknown fields are ignored (the compatibility layer "silently ignores" what it does not support)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class OpenAIResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- content parts


class ChatCompletionContentPartTextParam(OpenAIRequestModel):
    type: Literal["text"]
    text: str


class ImageURL(OpenAIRequestModel):
    url: str
    detail: str | None = None


class ChatCompletionContentPartImageParam(OpenAIRequestModel):
    type: Literal["image_url"]
    image_url: ImageURL


class ChatCompletionContentPartInputAudioParam(OpenAIRequestModel):
    type: Literal["input_audio"]
    input_audio: dict[str, Any]


class ChatCompletionContentPartFileParam(OpenAIRequestModel):
    type: Literal["file"]
    file: dict[str, Any]


class ChatCompletionContentPartRefusalParam(OpenAIRequestModel):
    type: Literal["refusal"]
    refusal: str


UserContentPart = Annotated[
    ChatCompletionContentPartTextParam
    | ChatCompletionContentPartImageParam
    | ChatCompletionContentPartInputAudioParam
    | ChatCompletionContentPartFileParam,
    Field(discriminator="type"),
]
AssistantContentPart = Annotated[
    ChatCompletionContentPartTextParam | ChatCompletionContentPartRefusalParam,
    Field(discriminator="type"),
]

# ---------------------------------------------------------------- messages


class FunctionCall(OpenAIRequestModel):
    name: str
    arguments: str


class ChatCompletionMessageFunctionToolCallParam(OpenAIRequestModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class _InstructionMessageParam(OpenAIRequestModel):
    role: str
    content: str | list[ChatCompletionContentPartTextParam]
    name: str | None = None


class ChatCompletionSystemMessageParam(_InstructionMessageParam):
    role: Literal["system"]


class ChatCompletionDeveloperMessageParam(_InstructionMessageParam):
    role: Literal["developer"]


class ChatCompletionUserMessageParam(OpenAIRequestModel):
    role: Literal["user"]
    content: str | list[UserContentPart]
    name: str | None = None


class ChatCompletionAssistantMessageParam(OpenAIRequestModel):
    role: Literal["assistant"]
    content: str | list[AssistantContentPart] | None = None
    tool_calls: list[ChatCompletionMessageFunctionToolCallParam] | None = None
    function_call: FunctionCall | None = None
    name: str | None = None


class ChatCompletionToolMessageParam(OpenAIRequestModel):
    role: Literal["tool"]
    content: str | list[ChatCompletionContentPartTextParam]
    tool_call_id: str


class ChatCompletionFunctionMessageParam(OpenAIRequestModel):
    role: Literal["function"]
    content: str | None
    name: str


ChatCompletionMessageParam = Annotated[
    ChatCompletionSystemMessageParam
    | ChatCompletionDeveloperMessageParam
    | ChatCompletionUserMessageParam
    | ChatCompletionAssistantMessageParam
    | ChatCompletionToolMessageParam
    | ChatCompletionFunctionMessageParam,
    Field(discriminator="role"),
]

# ---------------------------------------------------------------- tools and formats


class FunctionDefinition(OpenAIRequestModel):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    """Ignored, as on the Claude API (our grammar constrains arguments anyway where it can)."""


class ChatCompletionFunctionToolParam(OpenAIRequestModel):
    type: Literal["function"]
    function: FunctionDefinition


class ChatCompletionCustomToolParam(OpenAIRequestModel):
    """Free-form ``custom`` tools have no JSON arguments to map; they are refused by name."""

    type: Literal["custom"]
    custom: dict[str, Any]


ChatCompletionToolUnionParam = Annotated[
    ChatCompletionFunctionToolParam | ChatCompletionCustomToolParam, Field(discriminator="type")
]


class FunctionName(OpenAIRequestModel):
    name: str


class ChatCompletionNamedToolChoiceParam(OpenAIRequestModel):
    type: Literal["function"]
    function: FunctionName


class ChatCompletionAllowedToolChoiceParam(OpenAIRequestModel):
    """``{"type": "allowed_tools", "allowed_tools": {"mode": "auto"|"required", "tools": [...]}}``."""

    type: Literal["allowed_tools"]
    allowed_tools: dict[str, Any]


ChatCompletionToolChoiceOptionParam = (
    Literal["none", "auto", "required"]
    | Annotated[ChatCompletionNamedToolChoiceParam | ChatCompletionAllowedToolChoiceParam, Field(discriminator="type")]
)


class ResponseFormatText(OpenAIRequestModel):
    type: Literal["text"]


class ResponseFormatJSONObject(OpenAIRequestModel):
    type: Literal["json_object"]


class JSONSchema(OpenAIRequestModel):
    name: str
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormatJSONSchema(OpenAIRequestModel):
    type: Literal["json_schema"]
    json_schema: JSONSchema


ResponseFormat = Annotated[
    ResponseFormatText | ResponseFormatJSONObject | ResponseFormatJSONSchema, Field(discriminator="type")
]


class ChatCompletionStreamOptionsParam(OpenAIRequestModel):
    include_usage: bool | None = None


class ChatCompletionCreateParams(OpenAIRequestModel):
    model: str
    messages: list[ChatCompletionMessageParam]
    max_tokens: int | None = Field(default=None, ge=0)
    max_completion_tokens: int | None = Field(default=None, ge=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    stop: str | list[str] | None = None
    n: int | None = None
    stream: bool | None = None
    stream_options: ChatCompletionStreamOptionsParam | None = None
    tools: list[ChatCompletionToolUnionParam] | None = None
    tool_choice: ChatCompletionToolChoiceOptionParam | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDefinition] | None = None
    function_call: Literal["none", "auto"] | FunctionName | None = None
    response_format: ResponseFormat | None = None
    thinking: ThinkingConfig | None = None
    """Not OpenAI: the Claude API's extension for extended thinking (``extra_body``)."""


# ---------------------------------------------------------------- responses


class CompletionUsage(OpenAIResponseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Function(OpenAIResponseModel):
    name: str
    arguments: str


class ChatCompletionMessageFunctionToolCall(OpenAIResponseModel):
    id: str
    type: Literal["function"] = "function"
    function: Function


class ChatCompletionMessage(OpenAIResponseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None
    tool_calls: list[ChatCompletionMessageFunctionToolCall] | None = None


FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


class Choice(OpenAIResponseModel):
    index: int = 0
    message: ChatCompletionMessage
    finish_reason: FinishReason
    logprobs: None = None


class _CompletionObject(OpenAIResponseModel):
    """What a completion and each of its stream's chunks start with
    (``object`` is declared here, and narrowed by each kind, so that it serializes second)."""

    id: str
    object: str
    created: int
    model: str


class ChatCompletion(_CompletionObject):
    object: Literal["chat.completion"] = "chat.completion"
    choices: list[Choice]
    usage: CompletionUsage
    system_fingerprint: None = None


class _Sparse(OpenAIResponseModel):
    """Serialised without its ``None`` fields (a delta names only what changed)."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None}


class ChoiceDeltaToolCallFunction(_Sparse):
    name: str | None = None
    arguments: str | None = None


class ChoiceDeltaToolCall(_Sparse):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: ChoiceDeltaToolCallFunction | None = None


class ChoiceDelta(_Sparse):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None


class ChunkChoice(OpenAIResponseModel):
    index: int = 0
    delta: ChoiceDelta
    finish_reason: FinishReason | None = None
    logprobs: None = None


class ChatCompletionChunk(_CompletionObject):
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None
    """Only on the last chunk, and only with ``stream_options.include_usage``."""
    system_fingerprint: None = None


# ---------------------------------------------------------------- errors


class OpenAIErrorObject(OpenAIResponseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorResponse(OpenAIResponseModel):
    error: OpenAIErrorObject
