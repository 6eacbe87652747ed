/*
 * Prints the FFmpegLayout offsets (src/WfVae.Media/FFmpeg/Fields.cs) of the FFmpeg whose headers it is
 * compiled against, as the C# initialiser arguments. Run by build.ps1 ffmpeg-build for each release it
 * builds (<cache>/<version>/layout.txt), and by hand for a new one:
 *   cc -I <prefix>/include eng/ffmpeg-layout.c -o layout && ./layout
 */
#include <stddef.h>
#include <stdio.h>
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>

int main(void)
{
    printf("FormatPb: %zu, FormatNbStreams: %zu, FormatStreams: %zu,\n",
        offsetof(AVFormatContext, pb), offsetof(AVFormatContext, nb_streams), offsetof(AVFormatContext, streams));
    printf("OutputFormatFlags: %zu,\n", offsetof(AVOutputFormat, flags));
    printf("StreamIndex: %zu, StreamTimeBase: %zu, StreamAvgFrameRate: %zu, StreamCodecpar: %zu,\n",
        offsetof(AVStream, index), offsetof(AVStream, time_base), offsetof(AVStream, avg_frame_rate), offsetof(AVStream, codecpar));
    printf("PacketStreamIndex: %zu, PacketDuration: %zu,\n", offsetof(AVPacket, stream_index), offsetof(AVPacket, duration));
    printf("FrameData: %zu, FrameLinesize: %zu, FrameWidth: %zu, FrameHeight: %zu, FrameFormat: %zu, FramePts: %zu, FrameBestEffortTimestamp: %zu,\n",
        offsetof(AVFrame, data), offsetof(AVFrame, linesize), offsetof(AVFrame, width), offsetof(AVFrame, height),
        offsetof(AVFrame, format), offsetof(AVFrame, pts), offsetof(AVFrame, best_effort_timestamp));
    printf("InOutName: %zu, InOutFilterCtx: %zu, InOutPadIdx: %zu, InOutNext: %zu,\n",
        offsetof(AVFilterInOut, name), offsetof(AVFilterInOut, filter_ctx), offsetof(AVFilterInOut, pad_idx), offsetof(AVFilterInOut, next));
    printf("CodecName: %zu, ", offsetof(AVCodec, name));
#if LIBAVCODEC_VERSION_MAJOR < 61
    printf("CodecPixFmts: %zu\n", offsetof(AVCodec, pix_fmts));
#else
    printf("CodecPixFmts: -1\n"); /* avcodec_get_supported_config (7.1 on) lists them; the field is deprecated */
#endif
    return 0;
}
