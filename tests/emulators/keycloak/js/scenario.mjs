// Acceptance scenario: @keycloak/keycloak-admin-client against the Keycloak emulator.
// Usage: node scenario.mjs <base-url>   (exit 0 and "npm scenario ok" on success)
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import KcAdminClient from "@keycloak/keycloak-admin-client";

const baseUrl = process.argv[2] ?? process.env.KC_BASE_URL;
assert.ok(baseUrl, "pass the emulator base URL");

const decode = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));

async function tokenFor(realm, form) {
  const response = await fetch(`${baseUrl}/realms/${realm}/protocol/openid-connect/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body;
}

async function main() {
  const admin = new KcAdminClient({ baseUrl, realmName: "master" });
  await admin.auth({ username: "admin", password: "admin", grantType: "password", clientId: "admin-cli" });

  // realm
  const realm = `npm-${randomUUID().slice(0, 8)}`;
  const { realmName } = await admin.realms.create({ realm, enabled: true });
  assert.equal(realmName, realm);
  await admin.realms.update({ realm }, { organizationsEnabled: true });
  assert.equal((await admin.realms.findOne({ realm })).organizationsEnabled, true);
  assert.equal(await admin.realms.findOne({ realm: "does-not-exist" }), null);
  admin.setConfig({ realmName: realm });

  try {
    // client with secret and redirect URIs
    const { id: clientUuid } = await admin.clients.create({
      clientId: "portal",
      secret: "portal-secret",
      redirectUris: ["http://127.0.0.1:5066/*"],
      standardFlowEnabled: true,
      directAccessGrantsEnabled: true,
      serviceAccountsEnabled: true,
    });
    const [found] = await admin.clients.find({ clientId: "portal" });
    assert.equal(found.id, clientUuid);
    assert.equal((await admin.clients.getClientSecret({ id: clientUuid })).value, "portal-secret");

    // user with a password
    const { id: userId } = await admin.users.create({
      username: "Alice",
      email: "alice@acme.test",
      firstName: "Alice",
      lastName: "Doe",
      enabled: true,
      emailVerified: true,
      credentials: [{ type: "password", value: "pw", temporary: false }],
    });
    const byEmail = await admin.users.find({ email: "alice@acme.test", exact: true });
    assert.deepEqual(byEmail.map((u) => u.id), [userId]);
    assert.equal(await admin.users.count(), 1);
    assert.equal(await admin.users.findOne({ id: "missing" }), null);

    // organization and membership (the client sends the bare user id)
    const { id: orgId } = await admin.organizations.create({
      name: "Acme",
      alias: "acme",
      domains: [{ name: "acme.test", verified: false }],
    });
    assert.equal(await admin.organizations.addMember({ orgId, userId }), "");
    await assert.rejects(admin.organizations.addMember({ orgId, userId }), (err) => {
      assert.equal(err.response.status, 409);
      assert.equal(err.message, "User is already a member of the organization.");
      return true;
    });
    const members = await admin.organizations.listMembers({ orgId });
    assert.deepEqual(members.map((m) => [m.username, m.membershipType]), [["alice", "UNMANAGED"]]);
    const mine = await admin.organizations.memberOrganizations({ userId });
    assert.deepEqual(mine.map((o) => o.alias), ["acme"]);
    const byAlias = await admin.organizations.find({ q: "alias:acme" });
    assert.deepEqual(byAlias.map((o) => o.id), [orgId]);
    assert.equal((await admin.organizations.findOne({ id: orgId })).alias, "acme");

    // identity provider link and invitation of an existing user
    await admin.identityProviders.create({ alias: "acme-sso", providerId: "oidc", config: {} });
    await admin.organizations.linkIdp({ orgId, alias: "acme-sso" });
    assert.deepEqual((await admin.organizations.listIdentityProviders({ orgId })).map((i) => i.alias), ["acme-sso"]);
    const { id: bobId } = await admin.users.create({ username: "bob", email: "bob@example.test", enabled: true });
    const form = new FormData();
    form.append("id", bobId);
    await admin.organizations.inviteExistingUser({ orgId }, form);

    // listing with paging past 100
    for (let i = 0; i < 110; i += 1) {
      await admin.organizations.create({ name: `org-${String(i).padStart(3, "0")}` });
    }
    assert.equal((await admin.organizations.find({})).length, 10);
    assert.equal((await admin.organizations.find({ first: 0, max: 100 })).length, 100);
    assert.equal((await admin.organizations.find({ first: 100, max: 100 })).length, 11);
    assert.equal((await admin.organizations.find({ first: 100, max: -1 })).length, 11);
    assert.equal((await admin.organizations.find({ search: "org-10", max: -1 })).length, 10);

    // the portal's service account: give it admin roles, then use it
    const saUser = await admin.clients.getServiceAccountUser({ id: clientUuid });
    const [management] = await admin.clients.find({ clientId: "realm-management" });
    const roles = (await admin.clients.listRoles({ id: management.id })).filter((r) =>
      ["manage-realm", "manage-users", "view-users"].includes(r.name),
    );
    await admin.users.addClientRoleMappings({ id: saUser.id, clientUniqueId: management.id, roles });
    const portal = new KcAdminClient({ baseUrl, realmName: realm });
    await portal.auth({ grantType: "client_credentials", clientId: "portal", clientSecret: "portal-secret" });
    const page = await portal.organizations.find({ first: 0, max: 5 });
    assert.equal(page.length, 5);
    assert.equal(page[0].alias, "acme");

    // login with the organization claim
    const tokens = await tokenFor(realm, {
      grant_type: "password",
      client_id: "portal",
      client_secret: "portal-secret",
      username: "alice@acme.test",
      password: "pw",
      scope: "openid organization:*",
    });
    assert.deepEqual(decode(tokens.id_token).organization, ["acme"]);
    assert.deepEqual(decode(tokens.access_token).organization, ["acme"]);

    await admin.organizations.delMember({ orgId, userId });
    assert.deepEqual(await admin.organizations.listMembers({ orgId }), []);
    await admin.organizations.delById({ id: orgId });
  } finally {
    admin.setConfig({ realmName: "master" });
    await admin.realms.del({ realm });
  }
  console.log("npm scenario ok");
}

main().catch((err) => {
  console.error(err?.responseData ?? "", err);
  process.exit(1);
});
