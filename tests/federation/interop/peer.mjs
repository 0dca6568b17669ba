// A fedify server for cara's interop test (tests/federation/test_fedify.py): an implementation
// we did not write, with its own signing and verification. One actor, "fan", follows a cara
// artist, keeps what arrives in its inbox (fedify verifies cara's signatures before a listener
// runs), and answers each Create{Note} with a Like and a reply.
//   node peer.mjs PORT       then   POST /control/follow {"actor": URL}, GET /control/state
import http from "node:http";
import { createFederation, generateCryptoKeyPair, MemoryKvStore } from "@fedify/fedify";
import { Accept, Create, Endpoints, Follow, Like, Note, Person, Reject } from "@fedify/fedify/vocab";

// Never the network: only this machine's loopback servers may be fetched.
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.hostname !== "127.0.0.1") throw new TypeError(`refused, not loopback: ${url}`);
  return realFetch(input, init);
};

const port = Number(process.argv[2]);
const origin = `http://127.0.0.1:${port}`;
const federation = createFederation({ kv: new MemoryKvStore(), origin, allowPrivateAddress: true });
const keys = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
const state = { received: [], sent: [], errors: [] };
let serial = 0;

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== "fan") return null;
    const [pair] = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "A fedify fan",
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: pair.cryptographicKey,
    });
  })
  .setKeyPairsDispatcher(async () => [keys]);

async function send(ctx, recipient, activity) {
  try {
    await ctx.sendActivity({ identifier: "fan" }, recipient, activity);
    state.sent.push({ type: activity.constructor.name, id: activity.id.href, ok: true });
  } catch (error) {
    state.sent.push({ type: activity.constructor.name, id: activity.id.href, ok: false });
    state.errors.push(String(error));
  }
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, async (_ctx, accept) => {
    state.received.push({ type: "Accept", actor: accept.actorId?.href });
  })
  .on(Reject, async (_ctx, reject) => {
    state.received.push({ type: "Reject", actor: reject.actorId?.href });
  })
  .on(Create, async (ctx, create) => {
    const note = await create.getObject();
    if (!(note instanceof Note)) return;
    const images = [];
    for await (const image of note.getAttachments()) {
      images.push({ url: image.url?.href ?? String(image.url), name: image.name?.toString() });
    }
    state.received.push({
      type: "Create",
      actor: create.actorId?.href,
      note: note.id?.href,
      content: note.content?.toString() ?? "",
      images,
    });
    const author = await create.getActor();
    const me = ctx.getActorUri("fan");
    serial += 1;
    await send(ctx, author, new Like({ id: new URL(`${origin}/likes/${serial}`), actor: me, object: note.id }));
    const reply = new Note({
      id: new URL(`${origin}/notes/${serial}`),
      attribution: me,
      replyTarget: note.id,
      content: "<p>Lovely work!</p>",
      to: author.id,
    });
    await send(
      ctx,
      author,
      new Create({ id: new URL(`${origin}/notes/${serial}/create`), actor: me, object: reply, to: author.id }),
    );
  });

async function control(url, body, res) {
  if (url.pathname === "/control/state") {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify(state));
  }
  if (url.pathname === "/control/follow") {
    const ctx = federation.createContext(new URL(origin), undefined);
    const target = await ctx.lookupObject(JSON.parse(body).actor);
    serial += 1;
    const follow = new Follow({ id: new URL(`${origin}/follows/${serial}`), actor: ctx.getActorUri("fan"), object: target.id });
    await send(ctx, target, follow);
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ actor: target.id.href }));
  }
  res.writeHead(404);
  res.end();
}

http
  .createServer(async (req, res) => {
    try {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const body = Buffer.concat(chunks);
      const url = new URL(req.url, origin);
      if (url.pathname.startsWith("/control/")) return await control(url, body.toString(), res);
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) headers.set(name, String(value));
      const hasBody = !["GET", "HEAD"].includes(req.method);
      const request = new Request(url, { method: req.method, headers, body: hasBody ? body : undefined });
      const response = await federation.fetch(request, { contextData: undefined });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    } catch (error) {
      state.errors.push(String(error?.stack ?? error));
      res.writeHead(500);
      res.end(String(error));
    }
  })
  .listen(port, "127.0.0.1", () => console.log(`fedify peer on ${origin}`));
