namespace ActorVault.IntegrationTests;

public sealed class SmokeTests
{
    [Fact]
    public async Task StartAsync_RealChild_ReportsLockedStatus()
    {
        var lines = new List<string>();
        await using VaultClient client = await VaultClient.StartAsync(new VaultClientOptions { VaultLog = l => { lock (lines) { lines.Add(l); } } });
        VaultStatus status = await client.GetStatusAsync();
        Assert.True(status.VaultPid > 0, string.Join("\n", lines));
        Assert.Equal(VaultState.Locked, status.State);
        byte[] secret = "hello"u8.ToArray();
        await client.SetSecretAsync("main", secret.AsSpan());
        Assert.All(secret, b => Assert.Equal(0, b));
        Assert.True(await client.VerifySecretAsync("main", "hello"u8.ToArray()));
        Assert.False(await client.VerifySecretAsync("main", "hellp"u8.ToArray()));
        using var opened = await client.OpenSecretAsync("main");
        Assert.True(opened.FixedTimeEquals("hello"u8));
        Assert.Equal(VaultState.Unlocked, client.State);
    }
}
