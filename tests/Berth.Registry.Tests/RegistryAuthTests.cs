using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Berth.Registry.Auth;
using static Berth.Registry.Tests.RegistryHarness;

namespace Berth.Registry.Tests;

public sealed class RegistryAuthTests
{
    private static void WriteHtpasswd(string path, params (string User, string Password)[] users)
        => File.WriteAllLines(path, users.Select(u => $"{u.User}:{BCrypt.Net.BCrypt.HashPassword(u.Password, 5)}"));

    private static AuthenticationHeaderValue Basic(string user, string password)
        => new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    [Fact]
    public async Task Htpasswd_basic_auth_refuses_missing_and_wrong_credentials()
    {
        await using var h = await StartAsync((c, dir) =>
        {
            c.HtpasswdPath = dir.Combine("htpasswd");
            WriteHtpasswd(c.HtpasswdPath, ("alice", "s3cret"));
        });
        using (var r = await h.Http.GetAsync("/v2/"))
        {
            await AssertErrorAsync(r, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            Assert.Equal("Basic realm=\"berth-registry\"", r.Headers.WwwAuthenticate.Single().ToString());
        }
        var wrong = new HttpRequestMessage(HttpMethod.Get, "/v2/");
        wrong.Headers.Authorization = Basic("alice", "nope");
        using (var r = await h.Http.SendAsync(wrong)) await AssertErrorAsync(r, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        h.Http.DefaultRequestHeaders.Authorization = Basic("alice", "s3cret");
        using (var r = await h.Http.GetAsync("/v2/")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var (_, digest, _, _) = await h.PushImageAsync("private/app", "v1");
        using (var r = await h.Http.GetAsync($"/v2/private/app/manifests/{digest}")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    private static async Task<RegistryHarness> StartTokenRegistryAsync()
        => await StartAsync((c, dir) =>
        {
            c.TokenAuth = true;
            c.TokenService = "test-registry";
            c.TokenHtpasswd = dir.Combine("htpasswd");
            WriteHtpasswd(c.TokenHtpasswd, ("alice", "a-pass"), ("bob", "b-pass"));
            c.TokenAccess.Add(new AccessRule("alice", "*", ["pull", "push", "delete", "*"]));
            c.TokenAccess.Add(new AccessRule("bob", "shared/*", ["pull"]));
            c.TokenAccess.Add(new AccessRule("", "public/*", ["pull"]));
        });

    private static async Task<string> TokenAsync(RegistryHarness h, string? user, string? password, params string[] scopes)
    {
        var query = "service=test-registry" + string.Concat(scopes.Select(s => "&scope=" + Uri.EscapeDataString(s)));
        var request = new HttpRequestMessage(HttpMethod.Get, "/auth/token?" + query);
        if (user is not null) request.Headers.Authorization = Basic(user, password!);
        using var r = await h.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        var token = doc.RootElement.GetProperty("token").GetString()!;
        Assert.Equal(token, doc.RootElement.GetProperty("access_token").GetString());
        Assert.Equal(300, doc.RootElement.GetProperty("expires_in").GetInt32());
        Assert.True(DateTimeOffset.TryParse(doc.RootElement.GetProperty("issued_at").GetString(), out _));
        return token;
    }

    [Fact]
    public async Task Token_flow_challenge_then_token_then_access()
    {
        await using var h = await StartTokenRegistryAsync();
        using (var r = await h.Http.GetAsync("/v2/shared/app/manifests/latest"))
        {
            await AssertErrorAsync(r, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            var challenge = r.Headers.WwwAuthenticate.Single().ToString();
            Assert.Equal($"Bearer realm=\"{h.Server.Address.ToString().TrimEnd('/')}/auth/token\",service=\"test-registry\",scope=\"repository:shared/app:pull\"", challenge);
        }
        var alice = await TokenAsync(h, "alice", "a-pass", "repository:shared/app:pull,push");
        h.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", alice);
        using (var r = await h.Http.GetAsync("/v2/")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        await h.PushImageAsync("shared/app", "latest");
        using (var r = await h.Http.GetAsync("/v2/shared/app/manifests/latest")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        // A token for one repository does not open another.
        using (var r = await h.Http.GetAsync("/v2/other/manifests/latest"))
        {
            await AssertErrorAsync(r, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            Assert.Contains("error=\"insufficient_scope\"", r.Headers.WwwAuthenticate.Single().ToString());
        }
    }

    [Fact]
    public async Task Token_scopes_are_enforced_per_repository_and_action()
    {
        await using var h = await StartTokenRegistryAsync();
        h.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync(h, "alice", "a-pass", "repository:shared/app:pull,push"));
        await h.PushImageAsync("shared/app", "latest");

        // bob asks for pull and push on shared/app; the rules give him pull only.
        var bob = await TokenAsync(h, "bob", "b-pass", "repository:shared/app:pull,push");
        var claims = JsonDocument.Parse(TokenSigner.FromBase64Url(bob.Split('.')[1])).RootElement;
        Assert.Equal("bob", claims.GetProperty("sub").GetString());
        Assert.Equal(["pull"], claims.GetProperty("access")[0].GetProperty("actions").EnumerateArray().Select(a => a.GetString()!));
        h.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bob);
        using (var r = await h.Http.GetAsync("/v2/shared/app/manifests/latest")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await h.Http.PostAsync("/v2/shared/app/blobs/uploads/", null))
        {
            await AssertErrorAsync(r, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            var challenge = r.Headers.WwwAuthenticate.Single().ToString();
            Assert.Contains("scope=\"repository:shared/app:pull,push\"", challenge);
            Assert.Contains("insufficient_scope", challenge);
        }
        // Anonymous clients get only what the rules give "" (pull on public/*), and nothing of shared/.
        var anonymous = await TokenAsync(h, null, null, "repository:public/x:pull", "repository:shared/app:pull");
        var anonymousClaims = JsonDocument.Parse(TokenSigner.FromBase64Url(anonymous.Split('.')[1])).RootElement;
        Assert.Equal(["public/x"], anonymousClaims.GetProperty("access").EnumerateArray().Select(a => a.GetProperty("name").GetString()!));
        // A tampered token is refused.
        var parts = (await TokenAsync(h, "alice", "a-pass", "repository:shared/app:pull")).Split('.');
        h.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", parts[0] + "." + TokenSigner.Base64Url(Encoding.UTF8.GetBytes("{\"iss\":\"berth-registry\",\"aud\":\"test-registry\",\"exp\":9999999999,\"access\":[{\"type\":\"repository\",\"name\":\"shared/app\",\"actions\":[\"push\"]}]}")) + "." + parts[2]);
        using (var r = await h.Http.GetAsync("/v2/shared/app/manifests/latest"))
        {
            await AssertErrorAsync(r, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            Assert.Contains("invalid_token", r.Headers.WwwAuthenticate.Single().ToString());
        }
    }

    [Fact]
    public async Task Token_service_refuses_a_wrong_password_and_catalog_needs_its_scope()
    {
        await using var h = await StartTokenRegistryAsync();
        var wrong = new HttpRequestMessage(HttpMethod.Get, "/auth/token?service=test-registry&scope=repository:x:pull");
        wrong.Headers.Authorization = Basic("alice", "wrong");
        using (var r = await h.Http.SendAsync(wrong)) await AssertErrorAsync(r, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        var unknownUser = new HttpRequestMessage(HttpMethod.Get, "/auth/token?service=test-registry");
        unknownUser.Headers.Authorization = Basic("mallory", "a-pass");
        using (var r = await h.Http.SendAsync(unknownUser)) await AssertErrorAsync(r, HttpStatusCode.Unauthorized, "UNAUTHORIZED");

        h.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync(h, "alice", "a-pass", "repository:x:pull"));
        using (var r = await h.Http.GetAsync("/v2/_catalog"))
        {
            await AssertErrorAsync(r, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            Assert.Contains("scope=\"registry:catalog:*\"", r.Headers.WwwAuthenticate.Single().ToString());
        }
        h.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync(h, "alice", "a-pass", "registry:catalog:*"));
        using (var r = await h.Http.GetAsync("/v2/_catalog")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    [Fact]
    public void Expired_and_foreign_tokens_do_not_verify()
    {
        using var signer = new TokenSigner("issuer");
        using var other = new TokenSigner("issuer");
        var now = DateTimeOffset.UtcNow;
        var access = new[] { new ResourceAccess("repository", "x", ["pull"]) };
        var token = signer.Issue("alice", "svc", access, TimeSpan.FromMinutes(5), now);
        Assert.NotNull(signer.Verify(token, "svc", now));
        Assert.Null(signer.Verify(token, "other-service", now));
        Assert.Null(signer.Verify(token, "svc", now.AddMinutes(6)));
        Assert.Null(other.Verify(token, "svc", now));
    }
}
