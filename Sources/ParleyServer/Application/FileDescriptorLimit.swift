#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open files, which bounds its connections.
///
/// Many systems start processes with a soft limit of 1,024 and a hard limit far above it; a few
/// thousand connections (idle ones included, until their timeout) would then make `accept` fail
/// and even `/healthz` go unanswered. Like Go's runtime since 1.19, the server raises the soft
/// limit to the hard one at startup.
public enum FileDescriptorLimit {
    /// Raises the soft limit to the hard limit; returns the limit in force afterwards, or `nil`
    /// when it cannot be read.
    @discardableResult
    public static func raiseToHardLimit() -> UInt64? {
        var limits = rlimit()
        guard getrlimit(resourceKind, &limits) == 0 else { return nil }
        #if canImport(Darwin)
        // macOS refuses a soft limit above OPEN_MAX (its hard limit is often "unlimited").
        let target = min(limits.rlim_max, rlim_t(OPEN_MAX))
        #else
        let target = limits.rlim_max
        #endif
        if limits.rlim_cur < target {
            var raised = limits
            raised.rlim_cur = target
            if setrlimit(resourceKind, &raised) == 0 { limits = raised }
        }
        return UInt64(limits.rlim_cur)
    }

    #if canImport(Glibc)
    private static let resourceKind = __rlimit_resource_t(UInt32(RLIMIT_NOFILE.rawValue))
    #else
    private static let resourceKind = RLIMIT_NOFILE
    #endif
}
