import Dispatch
import ParleyFuzzing

#if canImport(Glibc)
import Glibc
#endif

/// Which parser this process fuzzes: `PARLEY_FUZZ_TARGET` (one of `FuzzTarget`'s raw values).
nonisolated(unsafe) private var target: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> CInt
{
    guard let name = getenv("PARLEY_FUZZ_TARGET").map({ String(cString: $0) }), let chosen = FuzzTarget(rawValue: name)
    else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        print("set PARLEY_FUZZ_TARGET to one of: \(names)")
        exit(2)
    }
    target = chosen
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target else { return 0 }
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    // libFuzzer calls from its own thread, so waiting here starves no task.
    let done = DispatchSemaphore(value: 0)
    Task {
        await target.run(input)
        done.signal()
    }
    done.wait()
    return 0
}
