// One image request through the official TypeScript SDK; prints the reply's usage as JSON.
const Anthropic = require("@anthropic-ai/sdk").default;

async function main() {
  const client = new Anthropic({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0 });
  const reply = await client.messages.create({
    model: process.env.MODEL,
    max_tokens: 3,
    messages: [
      {
        role: "user",
        content: [
          { type: "image", source: { type: "base64", media_type: "image/png", data: process.env.IMAGE } },
          { type: "text", text: "What is in the picture?" },
        ],
      },
    ],
  });
  process.stdout.write(JSON.stringify({ type: reply.type, usage: reply.usage }));
}

main().catch((error) => {
  process.stderr.write(String(error));
  process.exit(1);
});
