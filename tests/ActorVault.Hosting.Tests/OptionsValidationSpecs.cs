using ActorVault.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ActorVault.Hosting.Tests;

/// <summary>Options are checked as the vault would, in the options' own names, and at host start (ValidateOnStart).</summary>
public sealed class OptionsValidationSpecs
{
    [Theory]
    [InlineData(nameof(VaultClientOptions.RsaBits), "1000", "VaultClientOptions.RsaBits", "2048, 3072 or 4096")]
    [InlineData(nameof(VaultClientOptions.MaxConcurrentLeases), "0", "VaultClientOptions.MaxConcurrentLeases", "at least 1")]
    [InlineData(nameof(VaultClientOptions.SecureHeapBytes), "5000", "VaultClientOptions.SecureHeapBytes", "power of two")]
    [InlineData(nameof(VaultClientOptions.RandomFactor), "2", "VaultClientOptions.RandomFactor", "0..1")]
    public async Task ABadValueFromConfiguration_StopsTheHostAtStart_NamingTheOption(string option, string value, string named, string rule)
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [$"ActorVault:{option}"] = value }).Build();
        HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Services.AddActorVault(configuration.GetSection("ActorVault"));
        using IHost host = builder.Build();

        OptionsValidationException e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
        Assert.Contains(rule, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_GoodAndDefaultOptions_HaveNoErrors()
    {
        Assert.Empty(new VaultClientOptions().Validate());
        Assert.Empty(new VaultClientOptions { RsaBits = 4096, DefaultLeaseTtl = TimeSpan.FromSeconds(1), LeaseCapacityWait = TimeSpan.Zero }.Validate());
    }
}
