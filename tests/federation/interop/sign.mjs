// Signs one request with fedify's RFC 9421 signer, for tests/federation/test_signatures.py.
//   echo '{"url": ..., "method": "POST", "body": "...", "key": PKCS8 PEM, "keyId": URL}' | node sign.mjs
// prints the signed request's headers as JSON.
import { signRequest } from "@fedify/fedify";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { url, method, body, key, keyId } = JSON.parse(input);
const der = Buffer.from(key.replace(/-----[^-]+-----|\s/g, ""), "base64");
const privateKey = await crypto.subtle.importKey(
  "pkcs8", der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["sign"],
);
const request = new Request(url, {
  method, body: body ?? undefined, headers: { "content-type": "application/activity+json" },
});
const signed = await signRequest(request, privateKey, new URL(keyId), { spec: "rfc9421" });
process.stdout.write(JSON.stringify(Object.fromEntries(signed.headers)));
