# FFmpeg releases for the in-process binding (src/WfVae.Media/FFmpeg): the `ffmpeg-build` and
# `ffmpeg-test` targets of build.ps1, dot-sourced by it (it provides Fail, Invoke-Native, Write-Step,
# Install-AptPackages, $RepoRoot and $Forward).
#
# ffmpeg-build fetches the Debian source of each release line with apt-get source from a private apt
# configuration (its own sources.list and lists folder under the cache, so the system's apt setup is
# left alone), and builds minimal shared libraries: only the codecs, formats, filters and protocols
# that WfVae.Media and its tests use. ffmpeg-test runs the media tests against each build through
# WFVAE_FFMPEG_DIR. Results are recorded in docs/media.md.

# Release lines: the upstream version prefix looked for among the Debian source versions, and the
# suites that carry it (newest Debian revision wins). 6.x is absent: no current Debian suite has it.
$FFmpegLines = [ordered]@{
    '7.1' = 'trixie'
    '8'   = 'unstable'
    '9.0' = 'experimental unstable'
}

# Only what the tests exercise (tests/WfVae.Tests/Media, Cli, Demo): H.264 (libx264), MPEG-4 Part 2 and GIF
# out, H.264/MPEG-4/GIF in, MP4/Matroska/MPEG-TS/WAV/GIF/raw containers, the image2 muxer (whose image sequences
# the writer refuses by name), the filters VideoReader builds its graph from (rotation included) plus fps, and file/pipe/udp/tcp
# input. The gif parser: from 7.1 the GIF demuxer hands whole files to it (without it a GIF reads as one frame).
$FFmpegConfigure = @(
    '--disable-everything', '--disable-programs', '--disable-doc', '--disable-static', '--enable-shared',
    '--disable-autodetect', '--enable-zlib', '--disable-x86asm', '--disable-avdevice', '--disable-swresample',
    '--disable-postproc', '--enable-gpl', '--enable-libx264',
    '--enable-decoder=h264,mpeg4,rawvideo,pcm_s16le,gif',
    '--enable-encoder=libx264,mpeg4,rawvideo,wrapped_avframe,gif',
    '--enable-parser=h264,mpeg4video,gif',
    '--enable-demuxer=mov,matroska,mpegts,wav,rawvideo,h264,m4v,yuv4mpegpipe,gif',
    '--enable-muxer=mp4,mov,matroska,mpegts,rawvideo,null,nut,yuv4mpegpipe,gif,image2',
    '--enable-bsf=h264_mp4toannexb',
    '--enable-protocol=file,pipe,udp,tcp',
    '--enable-filter=buffer,buffersink,scale,fps,format,null,copy,setpts,transpose,hflip,vflip'
)
$FFmpegAptPackages = @('gcc', 'libc6-dev', 'libx264-dev', 'zlib1g-dev', 'pkg-config', 'make', 'xz-utils', 'dpkg-dev')

function Get-FFmpegCache {
    if ($env:WFVAE_FFMPEG_CACHE) { return $env:WFVAE_FFMPEG_CACHE }
    return (Join-Path (Get-WfVaeUserCache) 'ffmpeg')
}

# The newest Debian source version (with epoch) of each release line, from `apt-cache showsrc`.
function Get-FFmpegSourceVersions([string[]]$AptOptions) {
    $text = (& apt-cache @AptOptions showsrc ffmpeg 2>$null) -join "`n"
    if ($LASTEXITCODE -ne 0) { Fail 'apt-cache showsrc ffmpeg failed (private sources list; see above)' }
    $versions = [regex]::Matches($text, '(?m)^Version:\s*(\S+)') | ForEach-Object { $_.Groups[1].Value } | Select-Object -Unique
    $picked = [ordered]@{}
    foreach ($line in $FFmpegLines.Keys) {
        $match = $versions | Where-Object { (Get-UpstreamVersion $_).StartsWith("$line.") } |
            Sort-Object { [version](Get-UpstreamVersion $_) }, { $_ } | Select-Object -Last 1
        if ($match) { $picked[$line] = $match } else { Write-Warning "ffmpeg-build: no Debian source of FFmpeg $line in $($FFmpegLines[$line])" }
    }
    return $picked
}

function Get-UpstreamVersion([string]$DebianVersion) {
    return (($DebianVersion -replace '^\d+:', '') -split '-')[0] -replace '\+.*$', ''
}

# Downloads the source (apt-get source --download-only, no build dependencies) and returns the
# extracted upstream tree. Only the .orig tarball is needed: the build is upstream FFmpeg.
function Get-FFmpegSource([string]$Cache, [string[]]$AptOptions, [string]$DebianVersion) {
    $upstream = Get-UpstreamVersion $DebianVersion
    $src = Join-Path $Cache 'src'
    New-Item -ItemType Directory -Force -Path $src | Out-Null
    $tarball = Join-Path $src "ffmpeg_$upstream.orig.tar.xz"
    if (-not (Test-Path $tarball)) {
        Push-Location $src
        try {
            Write-Host "+ apt-get source --download-only ffmpeg=$DebianVersion" -ForegroundColor DarkGray
            & apt-get @AptOptions source --download-only "ffmpeg=$DebianVersion" | Out-Host
            # The Debian packaging tarball can be missing from the mirror while the upstream one is there.
            if (-not (Test-Path $tarball)) { Fail "apt-get source left no $tarball (exit code $LASTEXITCODE)" }
        }
        finally { Pop-Location }
    }
    $tree = Join-Path $src "ffmpeg-$upstream"
    if (-not (Test-Path (Join-Path $tree 'configure'))) {
        Invoke-Native 'tar' @('-xJf', $tarball, '-C', $src) | Out-Host
    }
    return $tree
}

# Configures and builds one release into <cache>/<upstream>/ (lib/ and include/); skipped when the
# stamp shows the same configuration was built before.
function Invoke-FFmpegReleaseBuild([string]$Cache, [string]$Tree, [string]$Upstream) {
    $prefix = Join-Path $Cache $Upstream
    $stamp = Join-Path $prefix 'configure.txt'
    # Options for libraries a release no longer has (libpostproc left in 8.0) would stop configure.
    # (configure runs in its tree: once built there, it refuses to run from elsewhere.)
    Push-Location $Tree
    try { $known = (& ./configure --help 2>$null) -join "`n" }
    finally { Pop-Location }
    if (-not $known.Contains('--disable-everything')) { Fail "$(Join-Path $Tree 'configure') --help printed no option list" }
    $configure = @("--prefix=$prefix") + @($FFmpegConfigure | Where-Object { $_ -notlike '--disable-*' -or $known.Contains(($_ -split '=')[0]) })
    if ((Test-Path $stamp) -and ((Get-Content -Raw -LiteralPath $stamp).Trim() -eq ($configure -join ' '))) {
        Write-Host "ffmpeg-build: FFmpeg $Upstream is up to date in $prefix"
        Write-FFmpegLayout $prefix
        return $prefix
    }
    $jobs = [Environment]::ProcessorCount
    Push-Location $Tree
    try {
        Invoke-Native 'nice' (@('-n', '10', './configure') + $configure) | Out-Host
        Invoke-Native 'nice' @('-n', '10', 'make', "-j$jobs") | Out-Host
        Invoke-Native 'make' @('install') | Out-Host
    }
    finally { Pop-Location }
    Set-Content -LiteralPath $stamp -Value ($configure -join ' ')
    Write-FFmpegLayout $prefix
    return $prefix
}

# The release's struct offsets as src/WfVae.Media/FFmpeg/Fields.cs wants them (<prefix>/layout.txt).
function Write-FFmpegLayout([string]$Prefix) {
    $layout = Join-Path $Prefix 'layout.txt'
    $source = Join-Path $RepoRoot 'eng/ffmpeg-layout.c'
    $stamp = Join-Path $Prefix 'configure.txt'
    # Current when newer than both the program that prints it and the build it describes.
    if ((Test-Path $layout) -and (Get-Item $layout).LastWriteTimeUtc -gt (Get-Item $source).LastWriteTimeUtc -and
        (-not (Test-Path $stamp) -or (Get-Item $layout).LastWriteTimeUtc -gt (Get-Item $stamp).LastWriteTimeUtc)) { return }
    $exe = Join-Path $Prefix 'ffmpeg-layout'
    Invoke-Native 'cc' @('-I', (Join-Path $Prefix 'include'), '-o', $exe, $source) | Out-Host
    $offsets = & $exe
    if ($LASTEXITCODE -ne 0) { Fail "$exe failed (exit $LASTEXITCODE)" }
    $offsets | Set-Content -LiteralPath "$layout.partial"
    Move-Item -Force -LiteralPath "$layout.partial" -Destination $layout
    Write-Host "ffmpeg-build: struct offsets in $layout"
}

# The release lines asked for (`-- 7.1 9.0`), else all.
function Get-RequestedFFmpegLines {
    $asked = @($Forward | Where-Object { -not $_.StartsWith('-') })
    foreach ($a in $asked) { if (-not $FFmpegLines.Contains($a)) { Fail "unknown FFmpeg release line '$a' (known: $($FFmpegLines.Keys -join ', '))" } }
    if ($asked.Count -gt 0) { return $asked }
    return @($FFmpegLines.Keys)
}

function Invoke-FFmpegBuild {
    Write-Step 'ffmpeg-build'
    if (-not (Test-DebianLike)) { Fail 'ffmpeg-build fetches Debian sources with apt-get: run it on Debian or Ubuntu' }
    Install-AptPackages $FFmpegAptPackages | Out-Host
    $cache = Get-FFmpegCache
    $apt = Get-PrivateAptOptions $cache 'deb-src' @($FFmpegLines.Values | ForEach-Object { $_ -split ' ' } | Select-Object -Unique)
    Invoke-Native 'apt-get' ($apt + @('update')) | Out-Host
    $versions = Get-FFmpegSourceVersions $apt
    $built = [ordered]@{}
    $explicit = @($Forward | Where-Object { -not $_.StartsWith('-') }).Count -gt 0
    foreach ($line in Get-RequestedFFmpegLines) {
        if (-not $versions.Contains($line)) {
            # Asked for by name, a missing line is a failure: a test run would otherwise pass without it.
            if ($explicit) { Fail "no Debian source of FFmpeg $line in $($FFmpegLines[$line])" }
            continue
        }
        $upstream = Get-UpstreamVersion $versions[$line]
        Write-Step "FFmpeg $upstream (Debian $($versions[$line]))"
        $tree = Get-FFmpegSource $cache $apt $versions[$line]
        $built[$upstream] = Invoke-FFmpegReleaseBuild $cache $tree $upstream
    }
    foreach ($k in $built.Keys) { Write-Host "ffmpeg-build: FFmpeg $k -> $(Join-Path $built[$k] 'lib')" }
    return $built
}

# Runs the media tests once per built release (and once on the system's FFmpeg), then prints one
# line per release. WFVAE_FFMPEG_DIR makes WfVae.Media load that release's libraries.
function Invoke-FFmpegTest {
    Invoke-Setup # the test build needs what the test command installs (glslc, the .NET tools)
    $built = Invoke-FFmpegBuild
    Invoke-Native 'dotnet' @('build', (Join-Path $RepoRoot 'tests/WfVae.Tests'), '-c', 'Debug')
    $runs = [ordered]@{ 'system' = '' }
    foreach ($k in $built.Keys) { $runs[$k] = Join-Path $built[$k] 'lib' }
    $filter = 'FullyQualifiedName~WfVae.Tests.Media|FullyQualifiedName~VideoCliTests'
    $summary = @()
    foreach ($name in $runs.Keys) {
        Write-Step "media tests on FFmpeg $name"
        $results = Join-Path $RepoRoot "artifacts/test-results/ffmpeg-$name"
        if (Test-Path $results) { Remove-Item -Recurse -Force $results }
        $env:WFVAE_FFMPEG_DIR = $runs[$name]
        try {
            & dotnet test (Join-Path $RepoRoot 'tests/WfVae.Tests') -c Debug --no-build --filter $filter `
                --results-directory $results --logger trx --logger 'console;verbosity=minimal'
            $exit = $LASTEXITCODE
        }
        finally { Remove-Item Env:WFVAE_FFMPEG_DIR -ErrorAction SilentlyContinue }
        $c = Get-TrxCounts $results
        $summary += "FFmpeg $name`: $($c.Passed) passed, $($c.Failed) failed, $($c.Skipped) skipped (exit $exit)"
    }
    $summary | ForEach-Object { [Console]::Out.WriteLine("ffmpeg-test: $_") }
    if ($summary | Where-Object { $_ -notmatch ' 0 failed, 0 skipped \(exit 0\)$' }) { Fail 'media tests failed on at least one FFmpeg release (see above)' }
}
