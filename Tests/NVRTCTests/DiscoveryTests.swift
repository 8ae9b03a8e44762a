// Tests of finding libnvrtc.
import Foundation
import Testing
@testable import NVRTC

@Suite struct DiscoveryTests {
    /// An environment whose every NVRTC-related variable names a place that does not exist.
    static let missingEnvironment = [
        "FLASHMLA_NVRTC": "/nonexistent/flashmla/libnvrtc.so.13",
        "CUDA_HOME": "/nonexistent/cuda-home",
        "CUDA_PATH": "/nonexistent/cuda-path",
        "PYTHONPATH": "/nonexistent/py-one:/nonexistent/py-two",
        "FLASHMLA_PYTHON_SITE": "/nonexistent/site",
        "HOME": "/nonexistent/home",
    ]

    @Test func searchOrder() {
        let locations = NVRTCLibrary.searchLocations(environment: Self.missingEnvironment)
        var expected = ["/nonexistent/flashmla/libnvrtc.so.13"]
        for root in ["/nonexistent/cuda-home", "/nonexistent/cuda-path", "/usr/local/cuda"] {
            expected += ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"].map { "\(root)/lib64/\($0)" }
        }
        expected += ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]
        for site in ["/nonexistent/py-one", "/nonexistent/py-two", "/nonexistent/site"] {
            expected += [
                "\(site)/nvidia/cu13/lib/libnvrtc.so.13",
                "\(site)/nvidia/cuda_nvrtc/lib/libnvrtc.so.13",
                "\(site)/nvidia/cuda_nvrtc/lib/libnvrtc.so.12",
            ]
        }
        // System-wide Python folders that exist on this machine follow; none of them is under /nonexistent.
        #expect(Array(locations.prefix(expected.count)) == expected)
        #expect(!locations.dropFirst(expected.count).contains { $0.hasPrefix("/nonexistent") })
        #expect(Set(locations).count == locations.count, "no duplicates")
    }

    @Test func virtualEnvAndHomeAreGlobbed() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let venvSite = folder.url.appendingPathComponent("venv/lib/python3.12/site-packages").path
        let userSite = folder.url.appendingPathComponent("home/.local/lib/python3.11/site-packages").path
        try FileManager.default.createDirectory(atPath: venvSite, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: userSite, withIntermediateDirectories: true)
        let locations = NVRTCLibrary.searchLocations(environment: [
            "VIRTUAL_ENV": folder.url.appendingPathComponent("venv").path,
            "PYTHONPATH": "/nonexistent/py",
            "HOME": folder.url.appendingPathComponent("home").path,
        ])
        let venv = try #require(locations.firstIndex(of: "\(venvSite)/nvidia/cu13/lib/libnvrtc.so.13"))
        let pythonPath = try #require(locations.firstIndex(of: "/nonexistent/py/nvidia/cu13/lib/libnvrtc.so.13"))
        let user = try #require(locations.firstIndex(of: "\(userSite)/nvidia/cu13/lib/libnvrtc.so.13"))
        let loader = try #require(locations.firstIndex(of: "libnvrtc.so.13"))
        #expect(loader < venv && venv < pythonPath && pythonPath < user)
    }

    @Test func emptyVariablesAreIgnored() {
        let locations = NVRTCLibrary.searchLocations(environment: ["FLASHMLA_NVRTC": "", "CUDA_HOME": ""])
        #expect(locations.first == "/usr/local/cuda/lib64/libnvrtc.so")
    }

    @Test func failureListsEveryLocation() {
        let environment = Self.missingEnvironment
        let locations = NVRTCLibrary.searchLocations(environment: environment)
        do {
            // The loader's own path or a system Python may still hold NVRTC (as on CI); then it must not
            // claim to come from one of the missing places.
            let library = try NVRTCLibrary.load(environment: environment)
            #expect(!library.path.hasPrefix("/nonexistent"))
        } catch {
            #expect(error == .libraryNotFound(tried: locations))
            let text = error.description
            #expect(text.contains("pip install nvidia-cuda-nvrtc"))
            #expect(text.contains("FLASHMLA_NVRTC"))
            var cursor = text.startIndex
            for location in locations {
                let found = text.range(of: "- \(location)\n", range: cursor..<text.endIndex)
                #expect(found != nil, "\(location) is listed in order")
                if let found { cursor = found.upperBound }
            }
        }
    }

    @Test func notFoundDescription() {
        let error = NVRTCError.libraryNotFound(tried: ["/a/libnvrtc.so.13", "libnvrtc.so.13"])
        #expect(error.description.contains("  - /a/libnvrtc.so.13\n  - libnvrtc.so.13\n"))
        #expect(error.description.contains("install the CUDA toolkit or `pip install nvidia-cuda-nvrtc`"))
        #expect(error.description.contains("set FLASHMLA_NVRTC to the library's path"))
    }

    @Test func nonLibraryFileIsSkipped() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let bogus = folder.url.appendingPathComponent("libnvrtc.so.13")
        try Data("not an ELF file".utf8).write(to: bogus)
        var environment = Self.missingEnvironment
        environment["FLASHMLA_NVRTC"] = bogus.path
        if let library = try? NVRTCLibrary.load(environment: environment) {
            #expect(library.path != bogus.path)
        }
    }
}
