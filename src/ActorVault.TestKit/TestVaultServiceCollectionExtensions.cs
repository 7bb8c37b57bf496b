using Microsoft.Extensions.DependencyInjection;

namespace ActorVault.TestKit;

/// <summary>A <see cref="TestVault"/> in dependency injection, in place of the real vault.</summary>
public static class TestVaultServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="TestVault"/> as <see cref="IVault"/> (and as itself, to set secrets and
    /// check the audit trail in the test): code under test, and ActorVault.Hosting's health check
    /// (<c>AddHealthChecks().AddActorVault()</c>), run on it unchanged. Use it instead of
    /// <c>AddActorVault()</c>, not together with it.
    /// </summary>
    public static IServiceCollection AddTestVault(this IServiceCollection services, TestVaultOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(_ => new TestVault(options));
        services.AddSingleton<IVault>(sp => sp.GetRequiredService<TestVault>());
        return services;
    }
}
