# WfVae.Vulkan build script (PowerShell 7).
#
#   dotnet tool restore
#   dotnet pwsh ./build.ps1 <target> [options] [-- <arguments>]
#
# Run `dotnet pwsh ./build.ps1 help` for the targets and options.
#
# Arguments are parsed by hand (no param block) so that arguments meant for the CLI, such as
# `--device 0`, pass through PowerShell untouched.

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
# Native commands are checked through $LASTEXITCODE after every call (see Invoke-Native).
$PSNativeCommandUseErrorActionPreference = $false

$RepoRoot = $PSScriptRoot
# The CLI (run, bench) runs in the caller's directory so that relative paths mean what the caller meant.
$CallerDir = (Get-Location).ProviderPath
$Solution = Join-Path $RepoRoot 'WfVae.Vulkan.sln'
$CliProject = Join-Path $RepoRoot 'src/WfVae.Cli'
$DemoProject = Join-Path $RepoRoot 'demo/WfVae.Demo'
$TestResultsDir = Join-Path $RepoRoot 'artifacts/test-results'
$DefaultBenchArgs = @('ops', '--markdown', (Join-Path $RepoRoot 'docs/performance.md'))
$PluginProject = Join-Path $RepoRoot 'plugin/WfVae.Plugin/WfVae.Plugin.csproj'
$PluginDir = Join-Path $RepoRoot 'artifacts/plugin'
$FuzzProject = Join-Path $RepoRoot 'tests/WfVae.Fuzz/WfVae.Fuzz.csproj'
$FuzzDir = Join-Path $RepoRoot 'artifacts/fuzz'
$Frei0rProjects = @('plugin/WfVae.Frei0r.Encode/WfVae.Frei0r.Encode.csproj', 'plugin/WfVae.Frei0r.Decode/WfVae.Frei0r.Decode.csproj')
$Frei0rDir = Join-Path $RepoRoot 'artifacts/frei0r'
$PackageDir = Join-Path $RepoRoot 'artifacts/packages'

# Private apt configurations under a cache folder (used by the ffmpeg-build and mesa targets).
. (Join-Path $RepoRoot 'eng/PrivateApt.ps1')
# The ffmpeg-build / ffmpeg-test targets (FFmpeg releases for the in-process binding).
. (Join-Path $RepoRoot 'eng/FFmpegReleases.ps1')
# The mesa target (lavapipe from Mesa 25, unpacked without installing; also run by test).
. (Join-Path $RepoRoot 'eng/MesaLavapipe.ps1')
$GpuKitDir = Join-Path $RepoRoot 'artifacts/gpu-kit'
$GpuKitPayload = Join-Path $GpuKitDir 'payload'
# The Vulkan loader and the GL-dispatch libraries NVIDIA's Vulkan ICD links against (the device notes' recipe).
$GpuKitDebs = @('libvulkan1', 'libglvnd0', 'libgl1', 'libglx0', 'libegl1', 'libgles2', 'libopengl0')
# What travels to a lent GPU machine: the tracked tree, untracked files git does not ignore, and the payload.
$GpuKitTravelLimit = 64MB

$env:DOTNET_NOLOGO = '1'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'

# Debian/Ubuntu packages installed by `setup`.
$AptPackages = @(
    'libvulkan1', 'mesa-vulkan-drivers', 'vulkan-validationlayers', 'vulkan-tools',
    'glslc', 'spirv-tools',
    'ffmpeg', 'libavcodec-dev', 'libavformat-dev', 'libavfilter-dev', 'libswscale-dev', 'libavutil-dev',
    # The native plugin: NativeAOT links with the system C toolchain, and its test compiles a C driver.
    'gcc', 'libc6-dev',
    # tools/train: the PyTorch twin of the model (golden check in the tests, training, `wfvae bench --peer torch`, the GPU kit's peer step).
    'python3-torch', 'python3-numpy',
    # The frei0r plugins: the header for the C misuse driver, and the hosts their tests drive.
    'frei0r-plugins-dev', 'gstreamer1.0-tools', 'gstreamer1.0-plugins-base', 'gstreamer1.0-plugins-bad', 'melt', 'mpv'
)

$HelpText = @"
WfVae.Vulkan build script

usage: dotnet pwsh ./build.ps1 [target] [options] [-- <arguments>]
       (run 'dotnet tool restore' once first; works from any directory)

targets:
  help     this text (the default when no target is given)
  setup    install system prerequisites. Debian/Ubuntu: apt-get install (with sudo when not root)
           the missing ones of:
             $($AptPackages[0..5] -join ' ')
             $($AptPackages[6..11] -join ' ')
             $($AptPackages[12..13] -join ' ')
             $($AptPackages[14..15] -join ' ')
             $($AptPackages[16..21] -join ' ')
           Already-installed packages are skipped without touching the network.
           Other systems: prints what to install; fails when glslc, spirv-val or the Vulkan loader is missing.
  build    dotnet build WfVae.Vulkan.sln -c <Configuration>
  test     setup and mesa, then dotnet test WfVae.Vulkan.sln -c Debug (Debug: Vulkan validation layers on)
           with TRX results in artifacts/test-results/; ends with the line
             tests: <N> passed, <F> failed, <S> skipped
           and fails when the build or any test fails or when no test ran. It runs with --blame: a crash of the
           test host itself (not a failing test) runs the suite once more, the crashed run's results and blame
           sequence kept in artifacts/test-results-crashed/.
           Extra arguments are passed to dotnet test (e.g. -- --filter DeviceTests).
  bench    build, then: dotnet run --project src/WfVae.Cli -c <Configuration> --no-build -- bench <arguments>
           (default arguments: ops --markdown <repo>/docs/performance.md)
  run      build, then: dotnet run --project src/WfVae.Cli -c <Configuration> --no-build -- <arguments>
           e.g. dotnet pwsh ./build.ps1 run -- devices   (runs in the current directory)
  plugin   the native plugins (NativeAOT shared libraries, docs/plugin.md):
             dotnet publish plugin/WfVae.Plugin -c Release -r <this machine's RID> -o artifacts/plugin
           then copies plugin/include/wfvae.h beside wfvae_plugin.so/.dll/.dylib; and the frei0r plugins
           wfvae_encode and wfvae_decode (plugin/WfVae.Frei0r.*) with the default model into
           artifacts/frei0r (point FREI0R_PATH there). Needs a C toolchain as the linker (Linux: clang
           or gcc; Windows: Visual Studio C++ tools; macOS: Xcode).
           Extra arguments are passed to dotnet publish (e.g. -- -r linux-arm64).
  fuzz     coverage-guided fuzzing of every parser of untrusted bytes (safetensors, config, wfl, raw, torch,
           pickle) with SharpFuzz and afl-fuzz (Debian: apt-get install afl++):
             dotnet publish tests/WfVae.Fuzz -c Release, instrument WfVae.Model/Streaming/IO with sharpfuzz,
             then afl-fuzz -V <seconds> per target from tests/fuzz/corpus/<target> into artifacts/fuzz/<target>
           (resumed across runs). Prints executions, paths and crashes per target, appends them to
           artifacts/fuzz/ledger.tsv, and fails when a crash was found (copy it to tests/fuzz/regressions/).
           Arguments: -- [seconds per target, default 60] [target ...]
  soak     build, then: wfvae bench soak --model demo/assets/default-model --frames 10000 --size 64x64
           --json artifacts/soak.json --markdown docs/performance.md (a 10,000-frame stream through encode and
           recon with host RSS, the managed heap (bytes allocated, collections) and device memory sampled every
           second; slow on a CPU driver). Options given
           after -- replace those defaults (e.g. -- --frames 2000 --size 32x32).
  pack     NuGet packages into artifacts/packages: dotnet pack WfVae.Vulkan.sln -c <Configuration>
           (the libraries WfVae.Runtime, .Operators, .Model, .Streaming, .Media, SPIR-V embedded in
           .Operators, and the .NET tool 'wfvae'); records the git commit (and origin URL, if any).
           Extra arguments are passed to dotnet pack (e.g. -- -p:VersionSuffix=preview1).
  ffmpeg-build
           minimal shared libraries of FFmpeg 7.1, 8.x and 9.0 (only what WfVae.Media and its tests use),
           built from Debian's sources (apt-get source through a private sources list) into
           `$WFVAE_FFMPEG_CACHE (default ~/.cache/wfvae/ffmpeg); installs libx264-dev and build tools.
           Release-line names (7.1, 8, 9.0) restrict it (e.g. -- 7.1 9.0). Takes minutes per release.
  ffmpeg-test
           ffmpeg-build, then the media tests (Media, VideoCliTests) once on the system's FFmpeg and once
           per built release (WFVAE_FFMPEG_DIR); one summary line per release (docs/media.md).
  mesa     lavapipe from Mesa 25 (Debian bookworm-backports: mesa-vulkan-drivers, libdrm2, libdrm-amdgpu1)
           without installing it: apt-get download through a private sources list, dpkg -x into
           `$WFVAE_MESA_CACHE (default ~/.cache/wfvae/mesa-25), an ICD manifest with an absolute path there;
           then prints the environment that selects it (VK_DRIVER_FILES, LD_LIBRARY_PATH). Cached: no
           network once unpacked. The tests run the engine on it (Mesa25Tests).
  demo     build demo/WfVae.Demo, then run it (wfvae-demo) with <arguments> in the current directory:
           streams a clip through encode and decode on every Vulkan device and writes demo-report/
           (report.md, report.html, contact-sheet.png); e.g. -- --model WF-VAE-L-16Chn --size 128x128
  quality  build wfvae (Release), fetch the footage cache if missing (tools/train/data.py fetch: apt-get
           download of opencv-doc, python3-mecavideo, openboard-common into artifacts/train-cache), then
           tools/train/quality.py: the shipped model on the validation clips at 128x128 and 256x256 (engine fp32
           and fp16 through wfvae recon, the PyTorch twin, engine-vs-twin rel_err, streamed vs whole clip, a
           bicubic floor) -> docs/quality.md. Extra arguments go to quality.py (e.g. -- --model <dir>).
  gpu-kit  prepare the GPU kit's payload in artifacts/gpu-kit/payload (docs/gpu.md): wfvae published
           self-contained and trimmed for linux-x64 (wfvae-linux-x64.tar.xz, no .NET needed there), the
           Debian packages of the Vulkan loader (deb/: $($GpuKitDebs -join ' ')),
           manifest.json; fails when the tree plus the payload exceed 64 MiB. Arguments after -- run the kit
           with them: -- --rehearse runs every step on this machine's Vulkan device and writes
           artifacts/gpu-kit/summary.json and summary.md (python: WFVAE_PYTHON, /usr/bin/python3 or python3).
  clean    remove bin/ and obj/ under src/, tests/, plugin/ and demo/, and artifacts/

options:
  -Configuration Debug|Release   (alias -c) configuration for build, bench, run, soak, pack and demo; default
                                 Release. test always uses Debug; plugin, quality and gpu-kit always use Release.
  --                             everything after it is passed on unchanged (test, bench, run, plugin, pack,
                                 demo, fuzz, soak, quality; ffmpeg-build and ffmpeg-test take release lines);
                                 other unrecognised arguments are passed on as well.
                                 (gpu-kit: the kit's own arguments, see tools/gpu/kit.py --help)
                                 help, setup, build, mesa and clean take no extra arguments.
"@

function Write-Step([string]$Message) {
    Write-Host "==> $Message" -ForegroundColor Cyan
}

function Fail([string]$Message) {
    throw "build.ps1: $Message"
}

# Runs a native command, echoing it, and fails when its exit code is nonzero.
function Invoke-Native([string]$Command, [string[]]$Arguments) {
    Write-Host "+ $Command $($Arguments -join ' ')" -ForegroundColor DarkGray
    & $Command @Arguments
    if ($LASTEXITCODE -ne 0) { Fail "'$Command $($Arguments -join ' ')' failed with exit code $LASTEXITCODE" }
}

function Test-Command([string]$Name) {
    return $null -ne (Get-Command $Name -CommandType Application -ErrorAction SilentlyContinue)
}

# ---------------------------------------------------------------- arguments

$Target = 'help'
$Configuration = 'Release'
$Forward = [System.Collections.Generic.List[string]]::new()

function Read-Arguments([string[]]$ArgList) {
    $targetSeen = $false
    for ($i = 0; $i -lt $ArgList.Count; $i++) {
        $a = $ArgList[$i]
        if ($a -eq '--') {
            for ($j = $i + 1; $j -lt $ArgList.Count; $j++) { $Forward.Add($ArgList[$j]) }
            break
        }
        if ($a -in @('-Configuration', '-c', '--configuration')) {
            if ($i + 1 -ge $ArgList.Count) { Fail "$a needs a value (Debug or Release)" }
            $i++
            $value = $ArgList[$i]
            if ($value -notin @('Debug', 'Release')) { Fail "$a must be Debug or Release, not '$value'" }
            $script:Configuration = (Get-Culture).TextInfo.ToTitleCase($value.ToLowerInvariant())
            continue
        }
        if (-not $targetSeen -and $a -in @('-h', '--help', '-help', '-?')) {
            $script:Target = 'help'
            $targetSeen = $true
            continue
        }
        if (-not $targetSeen -and -not $a.StartsWith('-')) {
            $script:Target = $a.ToLowerInvariant()
            $targetSeen = $true
            continue
        }
        $Forward.Add($a)
    }
    if ($Forward.Count -gt 0 -and $script:Target -in @('help', 'setup', 'build', 'mesa', 'clean')) {
        Fail "target '$($script:Target)' takes no extra arguments (got: $($Forward -join ' '))"
    }
}

# ---------------------------------------------------------------- setup

function Get-OsRelease {
    $file = '/etc/os-release'
    if (-not (Test-Path $file)) { return @{} }
    $map = @{}
    foreach ($line in Get-Content $file) {
        if ($line -match '^\s*([A-Z_][A-Z0-9_]*)=(.*)$') {
            $map[$Matches[1]] = $Matches[2].Trim().Trim('"').Trim("'")
        }
    }
    return $map
}

function Test-DebianLike {
    if (-not $IsLinux) { return $false }
    $os = Get-OsRelease
    $ids = @()
    if ($os.ContainsKey('ID')) { $ids += $os['ID'] }
    if ($os.ContainsKey('ID_LIKE')) { $ids += ($os['ID_LIKE'] -split '\s+') }
    return (($ids -contains 'debian') -or ($ids -contains 'ubuntu')) -and (Test-Command 'apt-get') -and (Test-Command 'dpkg-query')
}

# Names of the given packages that dpkg reports as installed (one dpkg-query call, no network).
function Get-DpkgInstalled([string[]]$Packages) {
    $lines = & dpkg-query -W -f '${Package} ${db:Status-Status}\n' @Packages 2>$null
    $installed = @()
    foreach ($line in @($lines)) {
        $parts = "$line".Trim() -split '\s+'
        if ($parts.Count -eq 2 -and $parts[1] -eq 'installed') { $installed += ($parts[0] -split ':')[0] }
    }
    return , $installed
}

function Find-VulkanLoader {
    if ($IsWindows) {
        $dll = Join-Path ([Environment]::SystemDirectory) 'vulkan-1.dll'
        if (Test-Path $dll) { return $dll }
        return $null
    }
    $names = if ($IsMacOS) { @('libvulkan.1.dylib', 'libvulkan.dylib') } else { @('libvulkan.so.1') }
    $dirs = @()
    if ($env:VULKAN_SDK) { $dirs += (Join-Path $env:VULKAN_SDK 'lib') }
    if ($env:DYLD_LIBRARY_PATH) { $dirs += ($env:DYLD_LIBRARY_PATH -split ':') }
    if ($env:LD_LIBRARY_PATH) { $dirs += ($env:LD_LIBRARY_PATH -split ':') }
    $dirs += @('/usr/local/lib', '/opt/homebrew/lib', '/usr/lib', '/usr/lib64', '/lib', '/lib64',
        '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu')
    foreach ($d in $dirs) {
        if (-not $d) { continue }
        foreach ($n in $names) {
            $p = Join-Path $d $n
            if (Test-Path $p) { return $p }
        }
    }
    if ($IsLinux -and (Test-Command 'ldconfig')) {
        $line = & ldconfig -p 2>$null | Select-String -SimpleMatch 'libvulkan.so.1' | Select-Object -First 1
        if ($line) { return ($line.ToString() -split '=>')[-1].Trim() }
    }
    return $null
}

function Find-Tool([string]$Name) {
    if ($env:VULKAN_SDK) {
        foreach ($candidate in @((Join-Path $env:VULKAN_SDK "bin/$Name"), (Join-Path $env:VULKAN_SDK "bin/$Name.exe"))) {
            if (Test-Path $candidate) { return $candidate }
        }
    }
    $cmd = Get-Command $Name -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($cmd) { return $cmd.Source }
    return $null
}

# Checks glslc, spirv-val and the Vulkan loader; returns the list of what is missing.
function Get-MissingPrerequisites {
    $missing = @()
    if (-not (Find-Tool 'glslc')) { $missing += 'glslc (shaderc)' }
    if (-not (Find-Tool 'spirv-val')) { $missing += 'spirv-val (SPIRV-Tools)' }
    if (-not (Find-VulkanLoader)) { $missing += 'Vulkan loader (libvulkan.so.1 / vulkan-1.dll / libvulkan.1.dylib)' }
    return , $missing
}

# Installs the missing ones of $Packages with apt-get (through sudo when not root); packages the
# configured sources do not offer are skipped with a warning. Installed packages cost no network.
function Install-AptPackages([string[]]$Packages) {
    $installed = Get-DpkgInstalled $Packages
    $missing = @($Packages | Where-Object { $installed -notcontains $_ })
    if ($missing.Count -eq 0) {
        Write-Host "setup: all $($Packages.Count) packages are already installed"
        return
    }
    Write-Host "setup: missing packages: $($missing -join ' ')"
    $prefix = @()
    $isRoot = ((& id -u) -eq '0')
    if (-not $isRoot) {
        if (-not (Test-Command 'sudo')) { Fail "setup needs root to install packages and sudo is not available; as root run: apt-get install $($missing -join ' ')" }
        $prefix = @('sudo')
    }
    $env:DEBIAN_FRONTEND = 'noninteractive'
    # sudo may drop the environment; pass DEBIAN_FRONTEND explicitly.
    $aptGet = $prefix + @('env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get')
    # An install cut short earlier (a killed setup) leaves dpkg refusing every install until it is finished.
    $dpkg = $prefix + @('env', 'DEBIAN_FRONTEND=noninteractive', 'dpkg', '--configure', '-a')
    Invoke-Native $dpkg[0] @($dpkg | Select-Object -Skip 1)

    Invoke-Native $aptGet[0] (@($aptGet | Select-Object -Skip 1) + @('update'))

    $installable = @()
    $unavailable = @()
    foreach ($p in $missing) {
        $policy = (& apt-cache policy $p 2>$null) -join "`n"
        if ($LASTEXITCODE -eq 0 -and $policy -match 'Candidate:\s*(\S+)' -and $Matches[1] -ne '(none)') { $installable += $p }
        else { $unavailable += $p }
    }
    if ($unavailable.Count -gt 0) {
        Write-Warning "setup: not available from the configured apt sources, skipped: $($unavailable -join ' ')"
    }
    if ($installable.Count -gt 0) {
        Invoke-Native $aptGet[0] (@($aptGet | Select-Object -Skip 1) + @('install', '-y', '--no-install-recommends') + $installable)
    }
}

function Invoke-SetupDebian {
    Install-AptPackages $AptPackages

    $stillMissing = Get-MissingPrerequisites
    if ($stillMissing.Count -gt 0) {
        Fail "setup: still missing after apt-get: $($stillMissing -join ', '). Install the Vulkan SDK (https://vulkan.lunarg.com) and set VULKAN_SDK."
    }
    Write-Host "setup: ok (glslc, spirv-val and the Vulkan loader are present)"
}

function Invoke-SetupOther {
    $system = if ($IsWindows) { 'Windows' } elseif ($IsMacOS) { 'macOS' } else { 'this system (not Debian/Ubuntu with apt-get)' }
    Write-Host @"
setup: automatic installation is only implemented for Debian/Ubuntu. On $system install:
  - the Vulkan SDK (https://vulkan.lunarg.com), which provides glslc, spirv-val, the Vulkan loader and
    the validation layers; set VULKAN_SDK to its folder (or put glslc and spirv-val on PATH)
  - a Vulkan driver for your GPU (NVIDIA, AMD or Intel driver; on macOS MoltenVK from the SDK),
    or Mesa's lavapipe (CPU) driver
  - FFmpeg 5.1, 7.1, 8.x or 9.0 shared libraries (libavcodec, libavformat, libavfilter, libswscale,
    libavutil of one release); 6.x is refused by WfVae.Media (docs/media.md)
"@
    $missing = Get-MissingPrerequisites
    if ($missing.Count -gt 0) { Fail "setup: missing: $($missing -join ', ')" }
    Write-Host "setup: ok (glslc, spirv-val and the Vulkan loader were found; FFmpeg is not checked here)"
}

function Invoke-Setup {
    Write-Step 'setup'
    if (Test-DebianLike) { Invoke-SetupDebian } else { Invoke-SetupOther }
}

# ---------------------------------------------------------------- build / test / run

function Invoke-Build([string]$Config) {
    Write-Step "build ($Config)"
    Invoke-Native 'dotnet' @('build', $Solution, '-c', $Config)
}

function Get-TrxCounts([string]$Dir) {
    $counts = [ordered]@{ Passed = 0; Failed = 0; Skipped = 0; Files = 0 }
    if (-not (Test-Path $Dir)) { return $counts }
    foreach ($file in Get-ChildItem -Path $Dir -Filter '*.trx' -Recurse -File) {
        [xml]$trx = Get-Content -Raw -LiteralPath $file.FullName
        $c = $trx.TestRun.ResultSummary.Counters
        if ($null -eq $c) { continue }
        $n = { param($name) $v = $c.GetAttribute($name); if ($v) { [int]$v } else { 0 } }
        $counts.Files++
        $counts.Passed += & $n 'passed'
        $counts.Failed += (& $n 'failed') + (& $n 'error') + (& $n 'timeout') + (& $n 'aborted')
        # VSTest leaves notExecuted at 0 for skipped tests but does not count them as executed.
        $counts.Skipped += [Math]::Max((& $n 'notExecuted'), (& $n 'total') - (& $n 'executed'))
    }
    return $counts
}

function Test-HostCrashed([string]$Dir) {
    if (-not (Test-Path $Dir)) { return $false }
    foreach ($file in Get-ChildItem -Path $Dir -Filter '*.trx' -Recurse -File) {
        $trx = Get-Content -Raw -LiteralPath $file.FullName
        # A host ended by --blame-hang-timeout is reported as crashed too; a hang would only hang again.
        if ($trx -match 'inactivity time') { return $false }
        if ($trx -match 'Test host process crashed') { return $true }
    }
    return $false
}

function Invoke-Test {
    Invoke-Setup
    Invoke-Mesa
    Write-Step 'test (Debug)'
    if (Test-Path $TestResultsDir) { Remove-Item -Recurse -Force $TestResultsDir }
    New-Item -ItemType Directory -Force -Path $TestResultsDir | Out-Null

    # --blame: if the test host dies, a Sequence_*.xml names the tests it was running; a test that hangs (the longest
    # take a few minutes) is ended after 20 minutes and named, instead of running into the CI's limit unnamed.
    $testArgs = @('test', $Solution, '-c', 'Debug',
        '--results-directory', $TestResultsDir, '--blame', '--blame-hang-timeout', '20m', '--blame-hang-dump-type', 'none',
        '--logger', 'trx',
        '--logger', 'console;verbosity=normal') + $Forward
    Write-Host "+ dotnet $($testArgs -join ' ')" -ForegroundColor DarkGray
    & dotnet @testArgs
    $testExit = $LASTEXITCODE
    if ($testExit -ne 0 -and (Test-HostCrashed $TestResultsDir)) {
        # A crash of the whole test host (native, no test failing) was seen once in many runs and never reproduced:
        # run the suite once more, keeping the crashed run's results and blame sequence beside the new ones.
        $crashed = "$TestResultsDir-crashed"
        if (Test-Path $crashed) { Remove-Item -Recurse -Force $crashed }
        Move-Item -LiteralPath $TestResultsDir -Destination $crashed
        New-Item -ItemType Directory -Force -Path $TestResultsDir | Out-Null
        Write-Host "test host crashed (results and blame sequence kept in $crashed); running the suite once more" -ForegroundColor Yellow
        & dotnet @testArgs
        $testExit = $LASTEXITCODE
    }

    $counts = Get-TrxCounts $TestResultsDir
    Write-Host "test results: $TestResultsDir"
    # The one summary line, plain, alone on its line.
    [Console]::Out.WriteLine("tests: $($counts.Passed) passed, $($counts.Failed) failed, $($counts.Skipped) skipped")
    [Console]::Out.Flush()

    if ($testExit -ne 0) { Fail "dotnet test failed with exit code $testExit (build error or failing tests; see above)" }
    if ($counts.Files -eq 0) { Fail 'no TRX results were written' }
    if ($counts.Failed -gt 0) { Fail "$($counts.Failed) test(s) failed" }
    if ($counts.Passed -eq 0) { Fail 'no tests ran' }
}

function Invoke-Cli([string[]]$CliArgs, [string]$Project = $CliProject) {
    Push-Location $CallerDir
    try {
        $runArgs = @('run', '--project', $Project, '-c', $Configuration, '--no-build', '--') + $CliArgs
        Write-Host "+ dotnet $($runArgs -join ' ')" -ForegroundColor DarkGray
        & dotnet @runArgs
        # The CLI's own exit code is passed on (2 = usage error, 1 = failure).
        $script:exitCode = $LASTEXITCODE
    }
    finally {
        Pop-Location
    }
}

function Invoke-Plugin {
    Write-Step 'plugin (NativeAOT, Release)'
    $rid = @()
    # The host's RID unless the caller names one (cross-compiling needs that platform's toolchain).
    if (-not ($Forward | Where-Object { $_ -in @('-r', '--runtime') -or $_ -like '--runtime=*' })) {
        $rid = @('-r', [System.Runtime.InteropServices.RuntimeInformation]::RuntimeIdentifier)
    }
    Invoke-Native 'dotnet' (@('publish', $PluginProject, '-c', 'Release', '-o', $PluginDir) + $rid + $Forward)
    Copy-Item -Force -LiteralPath (Join-Path $RepoRoot 'plugin/include/wfvae.h') -Destination $PluginDir
    $lib = Get-ChildItem -LiteralPath $PluginDir -File | Where-Object { $_.Name -match '^wfvae_plugin\.(so|dll|dylib)$' } | Select-Object -First 1
    if (-not $lib) { Fail "dotnet publish left no wfvae_plugin library in $PluginDir" }

    # The frei0r plugins: one folder holding wfvae_encode and wfvae_decode (and the default model they use).
    Write-Step 'frei0r plugins (NativeAOT, Release)'
    foreach ($project in $Frei0rProjects) {
        Invoke-Native 'dotnet' (@('publish', (Join-Path $RepoRoot $project), '-c', 'Release', '-o', $Frei0rDir) + $rid + $Forward)
    }
    foreach ($name in @('wfvae_encode', 'wfvae_decode')) {
        if (-not (Get-ChildItem -LiteralPath $Frei0rDir -File | Where-Object { $_.Name -match "^$name\.(so|dll|dylib)$" })) { Fail "dotnet publish left no $name library in $Frei0rDir" }
    }
    Write-Host "plugin: $($lib.FullName)"
    Write-Host "header: $(Join-Path $PluginDir 'wfvae.h')"
    Write-Host "frei0r: $Frei0rDir (wfvae_encode, wfvae_decode; FREI0R_PATH=$Frei0rDir)"
}

# NuGet packages of everything packable (the libraries and the wfvae tool under src/; metadata in
# src/Directory.Build.props) into artifacts/packages.
function Invoke-Pack {
    Write-Step "pack ($Configuration)"
    $packArgs = @('pack', $Solution, '-c', $Configuration, '-o', $PackageDir)
    if (Test-Command 'git') {
        $commit = (& git -C $RepoRoot rev-parse HEAD 2>$null)
        if ($LASTEXITCODE -eq 0 -and $commit) { $packArgs += "-p:RepositoryCommit=$commit" }
        $origin = (& git -C $RepoRoot remote get-url origin 2>$null)
        if ($LASTEXITCODE -eq 0 -and $origin) { $packArgs += "-p:RepositoryUrl=$origin" }
    }
    Invoke-Native 'dotnet' ($packArgs + $Forward)
    Get-ChildItem -LiteralPath $PackageDir -Filter '*.nupkg' | ForEach-Object { Write-Host "package: $($_.FullName)" }
    Write-Host "install the tool: dotnet tool install --tool-path <folder> --add-source $PackageDir wfvae"
}

# docs/quality.md: the shipped model on the held-out validation clips (tools/train/quality.py).
function Invoke-Quality {
    Write-Step 'build wfvae (Release)'
    Invoke-Native 'dotnet' @('build', $CliProject, '-c', 'Release')
    $exe = Join-Path $RepoRoot 'src/WfVae.Cli/bin/Release/net10.0/wfvae'
    $python = '/usr/bin/python3'
    if (-not (Test-Path (Join-Path $RepoRoot 'artifacts/train-cache/manifest.json'))) {
        Write-Step 'validation clips (tools/train/data.py fetch)'
        Invoke-Native $python @((Join-Path $RepoRoot 'tools/train/data.py'), 'fetch')
    }
    Write-Step 'quality'
    Invoke-Native $python (@((Join-Path $RepoRoot 'tools/train/quality.py'), '--wfvae', $exe) + $Forward)
}

function Invoke-Fuzz {
    $seconds = 60
    $targets = @()
    foreach ($a in $Forward) { if ($a -match '^\d+$') { $seconds = [int]$a } else { $targets += $a } }
    $corpus = Join-Path $RepoRoot 'tests/fuzz/corpus'
    $known = @(Get-ChildItem -Directory $corpus | ForEach-Object Name)
    if ($targets.Count -eq 0) { $targets = $known }
    foreach ($t in $targets) { if ($t -notin $known) { Fail "unknown fuzz target '$t' (known: $($known -join ', '))" } }
    if (-not (Test-Command 'afl-fuzz')) { Fail "fuzz needs afl-fuzz (Debian/Ubuntu: apt-get install afl++)" }

    Write-Step "fuzz: build and instrument"
    $bin = Join-Path $FuzzDir 'bin'
    # Fresh each time: sharpfuzz refuses an assembly it has instrumented already.
    if (Test-Path $bin) { Remove-Item -Recurse -Force $bin }
    Invoke-Native 'dotnet' @('publish', $FuzzProject, '-c', 'Release', '-o', $bin)
    foreach ($dll in @('WfVae.Model.dll', 'WfVae.Streaming.dll', 'WfVae.IO.dll')) { Invoke-Native 'dotnet' @('sharpfuzz', (Join-Path $bin $dll)) }

    # dotnet is not an AFL-instrumented binary (the instrumentation is in the assemblies); crashes are .NET exceptions.
    $env:AFL_SKIP_BIN_CHECK = '1'; $env:AFL_NO_UI = '1'; $env:AFL_SKIP_CPUFREQ = '1'
    $env:AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES = '1'; $env:AFL_AUTORESUME = '1'; $env:AFL_NO_AFFINITY = '1'
    $dotnet = (Get-Command dotnet).Source
    $ledger = Join-Path $FuzzDir 'ledger.tsv'
    if (-not (Test-Path $ledger)) { "utc`ttarget`tseconds`texecs`tpaths`tcrashes`thangs" | Set-Content $ledger }
    $crashed = @()
    foreach ($t in $targets) {
        Write-Step "fuzz $t for $seconds s"
        $out = Join-Path $FuzzDir $t
        $stats = @{}
        $file = Join-Path $out 'default/fuzzer_stats'
        # A resumed run keeps its old statistics: gone first, so that a run that fails at start cannot report them.
        if (Test-Path $file) { Remove-Item -Force -LiteralPath $file }
        & afl-fuzz -i (Join-Path $corpus $t) -o $out -V $seconds -t 10000 -m none -- $dotnet (Join-Path $bin 'wfvae-fuzz.dll') $t | Out-Host
        if ($LASTEXITCODE -ne 0) { Fail "afl-fuzz on $t exited with $LASTEXITCODE (see its output above)" }
        if (-not (Test-Path $file)) { Fail "afl-fuzz wrote no $file (see its output above)" }
        foreach ($line in Get-Content $file) { if ($line -match '^(\w+)\s*:\s*(.*)$') { $stats[$Matches[1]] = $Matches[2].Trim() } }
        $crashes = [int]$stats['saved_crashes']
        "$([DateTime]::UtcNow.ToString('s'))`t$t`t$seconds`t$($stats['execs_done'])`t$($stats['corpus_count'])`t$crashes`t$($stats['saved_hangs'])" | Add-Content $ledger
        Write-Host "fuzz $t`: $($stats['execs_done']) executions ($($stats['execs_per_sec'])/s), $($stats['corpus_count']) paths, $crashes crashes, $($stats['saved_hangs']) hangs"
        if ($crashes -gt 0) { $crashed += Get-ChildItem (Join-Path $out 'default/crashes') -File | Where-Object Name -ne 'README.txt' | ForEach-Object FullName }
    }
    Write-Host "ledger: $ledger"
    if ($crashed.Count -gt 0) {
        Fail "crashes found; replay with 'dotnet $bin/wfvae-fuzz.dll <target> --replay <file>', fix, and copy each into tests/fuzz/regressions/<target>/:`n  $($crashed -join "`n  ")"
    }
}

# ---------------------------------------------------------------- gpu-kit

function Get-GpuKitPython {
    if ($env:WFVAE_PYTHON) { return $env:WFVAE_PYTHON }
    if (Test-Path '/usr/bin/python3') { return '/usr/bin/python3' }
    if (Test-Command 'python3') { return 'python3' }
    Fail 'gpu-kit needs python3 (with PyTorch for the peer step); set WFVAE_PYTHON'
}

# wfvae for linux-x64 without a .NET install there: self-contained, framework trimmed (the app's own assemblies
# are kept whole, so its reflection-based JSON reports still work), packed with xz.
function Publish-GpuKitWfvae {
    $publishDir = Join-Path $GpuKitDir 'publish/wfvae'
    if (Test-Path $publishDir) { Remove-Item -Recurse -Force $publishDir }
    Invoke-Native 'dotnet' @('publish', $CliProject, '-c', 'Release', '-r', 'linux-x64', '--self-contained',
        '-p:PublishTrimmed=true', '-p:TrimMode=partial', '-p:JsonSerializerIsReflectionEnabledByDefault=true',
        '-p:InvariantGlobalization=true', '-p:DebugType=none', '-o', $publishDir)
    # Debugger, crash-dump, tracing and alternative-GC libraries: never loaded by a plain run.
    foreach ($name in @('createdump', 'libmscordaccore.so', 'libmscordbi.so', 'libclrgc.so', 'libclrgcexp.so', 'libcoreclrtraceptprovider.so')) {
        $path = Join-Path $publishDir $name
        if (Test-Path $path) { Remove-Item -Force $path }
    }
    $tarball = Join-Path $GpuKitPayload 'wfvae-linux-x64.tar.xz'
    Invoke-Native 'tar' @('-C', (Split-Path $publishDir), '-cJf', $tarball, 'wfvae')
}

# The loader packages for amd64, downloaded with apt-get once (kept while the folder holds one of each).
function Get-GpuKitDebs {
    $debDir = Join-Path $GpuKitPayload 'deb'
    New-Item -ItemType Directory -Force -Path $debDir | Out-Null
    $missing = @($GpuKitDebs | Where-Object { -not (Get-ChildItem -Path $debDir -Filter "$($_)_*.deb" -ErrorAction SilentlyContinue) })
    if ($missing.Count -eq 0) { return }
    if (-not (Test-Command 'apt-get')) {
        Write-Warning "gpu-kit: no apt-get here, so the payload carries no Vulkan loader ($($missing -join ' ')); the GPU machine must have its own libvulkan.so.1"
        return
    }
    $aptArgs = @()
    if ((& dpkg --print-architecture) -ne 'amd64') {
        # Another architecture: amd64 package lists of their own, as in the device notes.
        $lists = Join-Path $GpuKitDir 'apt-amd64'
        New-Item -ItemType Directory -Force -Path (Join-Path $lists 'partial') | Out-Null
        $aptArgs = @('-oAPT::Architecture=amd64', '-oAPT::Architectures=amd64', "-oDir::State::Lists=$lists")
        Invoke-Native 'apt-get' ($aptArgs + @('update'))
    }
    Push-Location $debDir
    try { Invoke-Native 'apt-get' ($aptArgs + @('download') + $missing) }
    finally { Pop-Location }
}

function Get-TravelBytes {
    $files = @(& git -C $RepoRoot ls-files -z --cached --others --exclude-standard) -join '' -split "`0" | Where-Object { $_ }
    $bytes = 0L
    foreach ($f in $files) {
        $item = Get-Item -LiteralPath (Join-Path $RepoRoot $f) -Force -ErrorAction SilentlyContinue
        if ($item -and -not $item.PSIsContainer -and -not $item.LinkType) { $bytes += $item.Length }
    }
    $payload = (Get-ChildItem -LiteralPath $GpuKitPayload -Recurse -File | Measure-Object -Property Length -Sum).Sum
    return @{ Tree = $bytes; Payload = [long]$payload }
}

function Write-GpuKitManifest {
    $commit = (& git -C $RepoRoot rev-parse HEAD 2>$null)
    $dirty = [bool](& git -C $RepoRoot status --porcelain --untracked-files=no 2>$null)
    $files = Get-ChildItem -LiteralPath $GpuKitPayload -Recurse -File | Where-Object Name -ne 'manifest.json' | ForEach-Object {
        [ordered]@{ path = [IO.Path]::GetRelativePath($GpuKitPayload, $_.FullName); bytes = $_.Length; sha256 = (Get-FileHash -Algorithm SHA256 -LiteralPath $_.FullName).Hash.ToLowerInvariant() }
    }
    $manifest = [ordered]@{ commit = "$commit"; uncommitted_changes = $dirty; built_utc = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ');
        dotnet = (& dotnet --version); files = @($files) }
    Set-Content -LiteralPath (Join-Path $GpuKitPayload 'manifest.json') -Value ($manifest | ConvertTo-Json -Depth 4)
}

function Invoke-GpuKit {
    Write-Step 'gpu-kit: payload'
    New-Item -ItemType Directory -Force -Path $GpuKitPayload | Out-Null
    Publish-GpuKitWfvae
    Get-GpuKitDebs
    Write-GpuKitManifest
    $size = Get-TravelBytes
    $total = $size.Tree + $size.Payload
    Write-Host ("gpu-kit: payload {0:N1} MiB in {1}; with the tree {2:N1} MiB travel (limit {3} MiB)" -f ($size.Payload / 1MB), $GpuKitPayload, ($total / 1MB), ($GpuKitTravelLimit / 1MB))
    if ($total -gt $GpuKitTravelLimit) {
        Fail ("gpu-kit: {0:N1} MiB would travel, over the {1} MiB a lent GPU machine takes (tree {2:N1} MiB, payload {3:N1} MiB)" -f ($total / 1MB), ($GpuKitTravelLimit / 1MB), ($size.Tree / 1MB), ($size.Payload / 1MB))
    }
    if ($Forward.Count -eq 0) {
        Write-Host "gpu-kit: ready. On the GPU machine, from the repository root: python3 tools/gpu/kit.py --out <folder> (docs/gpu.md)"
        return
    }
    $python = Get-GpuKitPython
    Write-Step "gpu-kit: $python tools/gpu/kit.py $($Forward -join ' ')"
    & $python (Join-Path $RepoRoot 'tools/gpu/kit.py') @Forward
    if ($LASTEXITCODE -ne 0) { Fail "the GPU kit reported a failed or skipped step (exit code $LASTEXITCODE); see artifacts/gpu-kit/summary.md" }
}

function Invoke-Clean {
    Write-Step 'clean'
    $dirs = @()
    foreach ($top in @('src', 'tests', 'plugin', 'demo')) {
        $root = Join-Path $RepoRoot $top
        if (Test-Path $root) {
            $dirs += Get-ChildItem -Path $root -Directory -Recurse -Include 'bin', 'obj' |
                Where-Object { Test-Path (Join-Path $_.Parent.FullName '*.csproj') } |
                ForEach-Object FullName
        }
    }
    $dirs += Join-Path $RepoRoot 'artifacts'
    foreach ($d in $dirs) {
        if (Test-Path $d) {
            Write-Host "removing $d"
            Remove-Item -Recurse -Force -LiteralPath $d
        }
    }
}

# ---------------------------------------------------------------- main

$exitCode = 0
Push-Location $RepoRoot
try {
    Read-Arguments @($args | ForEach-Object { [string]$_ })
    switch ($Target) {
        'help' { Write-Host $HelpText }
        'setup' { Invoke-Setup }
        'build' { Invoke-Build $Configuration }
        'test' { Invoke-Test }
        'bench' {
            Invoke-Build $Configuration
            $benchArgs = if ($Forward.Count -gt 0) { @($Forward) } else { $DefaultBenchArgs }
            if ($Forward.Count -eq 0) { New-Item -ItemType Directory -Force -Path (Join-Path $RepoRoot 'docs') | Out-Null }
            Write-Step "bench $($benchArgs -join ' ')"
            Invoke-Cli (@('bench') + $benchArgs)
        }
        'run' {
            Invoke-Build $Configuration
            Write-Step "run $($Forward -join ' ')"
            Invoke-Cli @($Forward)
        }
        'plugin' { Invoke-Plugin }
        'fuzz' { Invoke-Fuzz }
        'soak' {
            Invoke-Build $Configuration
            $defaults = [ordered]@{
                '--model' = (Join-Path $RepoRoot 'demo/assets/default-model'); '--frames' = '10000'; '--size' = '64x64'
                '--json' = (Join-Path $RepoRoot 'artifacts/soak.json'); '--markdown' = (Join-Path $RepoRoot 'docs/performance.md')
            }
            $soakArgs = @('bench', 'soak')
            # A default only where the caller did not give that option.
            foreach ($k in $defaults.Keys) { if ($Forward -notcontains $k) { $soakArgs += @($k, $defaults[$k]) } }
            New-Item -ItemType Directory -Force -Path (Join-Path $RepoRoot 'artifacts') | Out-Null
            Write-Step "soak $($Forward -join ' ')"
            Invoke-Cli ($soakArgs + $Forward)
        }
        'pack' { Invoke-Pack }
        'ffmpeg-build' { Invoke-FFmpegBuild | Out-Null }
        'ffmpeg-test' { Invoke-FFmpegTest }
        'mesa' { Invoke-Mesa }
        'gpu-kit' { Invoke-GpuKit }
        'demo' {
            # Only the demo and what it references: the main job should not wait for the test project.
            Write-Step "build demo ($Configuration)"
            Invoke-Native 'dotnet' @('build', $DemoProject, '-c', $Configuration)
            Write-Step "demo $($Forward -join ' ')"
            Invoke-Cli @($Forward) $DemoProject
        }
        'quality' { Invoke-Quality }
        'clean' { Invoke-Clean }
        default {
            Write-Host $HelpText
            Fail "unknown target '$Target'"
        }
    }
}
catch {
    Write-Host ''
    Write-Host "$($_.Exception.Message)" -ForegroundColor Red
    $exitCode = 1
}
finally {
    Pop-Location
}
exit $exitCode
