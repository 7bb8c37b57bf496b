using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ActorVault.Hosting;

/// <summary>
/// <see cref="VaultClientOptions"/> from Microsoft.Extensions.Configuration (appsettings.json,
/// environment variables, …), validated when the host starts.
/// </summary>
public static class ActorVaultOptionsBinding
{
    /// <summary>
    /// Registers <see cref="IVault"/> (as <see cref="ActorVaultHostingExtensions.AddActorVault(IServiceCollection)"/>)
    /// and binds <see cref="VaultClientOptions"/> to <paramref name="configuration"/> (for instance
    /// <c>builder.Configuration.GetSection("ActorVault")</c>: <c>"RsaBits": 3072</c>, <c>"DefaultLeaseTtl": "00:00:05"</c>),
    /// validated at start (<c>ValidateOnStart</c>): a bad value stops the host with a message naming the
    /// option and what it must be. Use <see cref="WithActorVault(AkkaConfigurationBuilder, IServiceProvider, Action{VaultClientOptions}?)"/>
    /// to start the vault with them.
    /// </summary>
    public static IServiceCollection AddActorVault(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddActorVault();
        services.AddSingleton<IValidateOptions<VaultClientOptions>, VaultClientOptionsValidation>();
        services.AddOptions<VaultClientOptions>().Bind(configuration).ValidateOnStart();
        return services;
    }

    /// <summary>
    /// Starts the vault with the options bound by <see cref="AddActorVault(IServiceCollection, IConfiguration)"/>
    /// (or defaults), then <paramref name="configure"/> on top: <c>services.AddAkka("app", (b, sp) => b.WithActorVault(sp));</c>.
    /// Precedence: <paramref name="configure"/>, then the bound configuration, then the application's
    /// <c>actorvault.*</c> HOCON, then ActorVault's reference.
    /// </summary>
    public static AkkaConfigurationBuilder WithActorVault(this AkkaConfigurationBuilder builder, IServiceProvider provider, Action<VaultClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        VaultClientOptions bound = provider.GetService<IOptions<VaultClientOptions>>()?.Value ?? new VaultClientOptions();
        configure?.Invoke(bound);
        return builder.WithActorVault(bound);
    }

    private sealed class VaultClientOptionsValidation : IValidateOptions<VaultClientOptions>
    {
        public ValidateOptionsResult Validate(string? name, VaultClientOptions options)
        {
            IReadOnlyList<string> errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
