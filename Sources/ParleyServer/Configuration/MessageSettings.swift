import ParleyChat
import ParleyDomain

/// What a message (and an image) may be.
public struct MessageSettings: Sendable {
    /// `MAX_IMAGE_MB`: largest accepted image, decoded.
    public var maximumImageBytes = ImageValidator.defaultMaximumBytes
    /// `MESSAGE_EDIT_WINDOW_SECONDS`: how long after sending a sender may edit a message (0: never).
    public var editWindow: Duration = .seconds(15 * 60)
    /// `GROUP_MAX_MEMBERS` (members per group, default 1,000) and `GROUP_MAX_PER_USER` (groups
    /// a user is in, default 500).
    public var groupLimits = GroupLimits()

    public init() {}

    init(reader values: ConfigurationValues) throws {
        if let megabytes = try values.integer("MAX_IMAGE_MB", in: 1...100) {
            maximumImageBytes = megabytes * 1024 * 1024
        }
        if let window = try values.integer("MESSAGE_EDIT_WINDOW_SECONDS", in: 0...31_536_000) {
            editWindow = .seconds(window)
        }
        if let members = try values.integer("GROUP_MAX_MEMBERS", in: 2...100_000) {
            groupLimits.maxMembers = members
        }
        if let groups = try values.integer("GROUP_MAX_PER_USER", in: 1...100_000) {
            groupLimits.maxGroupsPerUser = groups
        }
    }

    /// Largest request body: the largest image as a base64 data URI (4/3 of its size) plus 1 MB
    /// for the other fields.
    public var requestBodyLimit: Int { maximumImageBytes / 3 * 4 + 4 + 1024 * 1024 }
}
