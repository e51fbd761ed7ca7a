import ParleyChat

/// Sessions, passwords and the limits on sign-up and log-in attempts.
public struct AuthSettings: Sendable {
    /// `JWT_SECRET`: set when the secret comes from configuration; `nil` in development means
    /// "generate one and remember it in the data directory".
    public var jwtSecret: String?
    /// `BCRYPT_COST` (4-16).
    public var bcryptCost: UInt8 = 10
    /// `AUTH_RATE_LIMIT`: sign-up and log-in attempts per minute per client address.
    public var attemptsPerAddress = 30
    /// `AUTH_EMAIL_RATE_LIMIT`: attempts per minute per client address and email pair.
    public var attemptsPerAddressAndEmail = 10
    /// `AUTH_EMAIL_GLOBAL_RATE_LIMIT`: attempts per hour per email, from all addresses together.
    public var attemptsPerEmailPerHour = 1000

    public init() {}

    init(reader values: ConfigurationValues, environment: ParleyConfiguration.Environment) throws {
        if let secret = values.string("JWT_SECRET", isSecret: true) {
            guard secret.utf8.count >= TokenService.minimumSecretBytes else {
                throw ConfigurationError(
                    key: "JWT_SECRET",
                    "must be at least \(TokenService.minimumSecretBytes) bytes (HS256 key strength); "
                        + "generate one with: openssl rand -base64 48"
                )
            }
            jwtSecret = secret
        } else if environment == .production {
            throw ConfigurationError(key: "JWT_SECRET", "is required in production")
        }
        bcryptCost = UInt8(try values.integer("BCRYPT_COST", in: 4...PasswordHasher.maximumStoredCost) ?? 10)
        attemptsPerAddress = try values.integer("AUTH_RATE_LIMIT", in: 1...1_000_000) ?? attemptsPerAddress
        attemptsPerAddressAndEmail =
            try values.integer("AUTH_EMAIL_RATE_LIMIT", in: 1...1_000_000) ?? attemptsPerAddressAndEmail
        attemptsPerEmailPerHour =
            try values.integer("AUTH_EMAIL_GLOBAL_RATE_LIMIT", in: 1...100_000_000) ?? attemptsPerEmailPerHour
    }
}
