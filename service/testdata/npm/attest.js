// Test-only: attests against confide serve with the real @azure/attestation
// SDK, validating the returned token against the service's /certs, and
// reads the SgxEnclave policy. Driven by service/npm_test.go.
//
// Environment: CONFIDE_URL (https base URL, also the expected issuer),
// CONFIDE_QUOTE (base64url evidence), CONFIDE_RUNTIME (runtime JSON),
// CONFIDE_ADMIN (admin bearer token). Prints one JSON object on stdout.
"use strict";
const { AttestationClient, AttestationAdministrationClient } = require("@azure/attestation");

async function main() {
  const url = process.env.CONFIDE_URL;
  const validationOptions = {
    validateToken: true,
    validateExpirationTime: true,
    validateNotBeforeTime: true,
    validateIssuer: true,
    expectedIssuer: url,
    timeValidationSlack: 5,
  };
  const client = new AttestationClient(url, { validationOptions });
  const signers = await client.getAttestationSigners();
  const quote = Buffer.from(process.env.CONFIDE_QUOTE, "base64url");
  const runtime = Buffer.from(process.env.CONFIDE_RUNTIME, "utf8");
  const res = await client.attestSgxEnclave(quote, { runTimeJson: runtime });

  const credential = {
    getToken: async () => ({ token: process.env.CONFIDE_ADMIN, expiresOnTimestamp: Date.now() + 3600 * 1000 }),
  };
  const admin = new AttestationAdministrationClient(url, credential, { validationOptions });
  const policy = await admin.getPolicy("SgxEnclave");

  let refused = "";
  try {
    await client.attestSgxEnclave(Buffer.from("not evidence"), { runTimeJson: runtime });
  } catch (e) {
    refused = String(e.statusCode || e.message);
  }

  process.stdout.write(JSON.stringify({
    signers: signers.length,
    issuer: res.body.issuer,
    mrEnclave: res.body.mrEnclave,
    mrSigner: res.body.mrSigner,
    productId: res.body.productId,
    svn: res.body.svn,
    runtime: res.body.runTimeClaims,
    policy: policy.body,
    refused,
  }));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
