#version 330
#include "common.glsl"
// Sky gradient, sun disc and a textured cloud layer. gl_FragCoord.xy are continuous pixel coordinates
// (u, v) of the OpenCV image (row 0 at the top), so the ray is exactly K^-1 (u, v, 1).
uniform mat3 u_rot;          // camera-to-world rotation
uniform vec4 u_intr;         // fx, fy, cx, cy in pixels of the render target
uniform vec3 u_cam_pos;
uniform sampler2D u_clouds;
uniform float u_cloud_cover;
uniform vec3 u_cloud_color;
uniform float u_cloud_height;
uniform float u_cloud_scale;
uniform float u_sun_cos;     // cos of the sun disc's angular radius

out vec4 f_color;

void main() {
    vec2 uv = gl_FragCoord.xy;
    vec3 d_cam = vec3((uv.x - u_intr.z) / u_intr.x, (uv.y - u_intr.w) / u_intr.y, 1.0);
    vec3 dir = normalize(u_rot * d_cam);
    vec3 c = sky_color(dir);
    float s = dot(dir, u_sun_dir);
    c = mix(c, vec3(1.0, 0.98, 0.9) * 1.5, smoothstep(u_sun_cos, u_sun_cos + 0.00015, s));
    float up = -dir.y;
    if (u_cloud_cover > 0.0 && up > 0.0) {
        vec2 p = (u_cam_pos.xz + dir.xz * (u_cloud_height / max(up, 0.02))) / u_cloud_scale;
        // two scales of the same tileable texture: large cloud banks, detail, no visible repetition
        float density = 0.65 * texture(u_clouds, p).r + 0.35 * texture(u_clouds, p * 3.7 + 0.31).r;
        // toward the horizon the layer is seen edge-on: fade its texture to its mean (no streaks)
        density = mix(0.5, density, smoothstep(0.05, 0.5, up));
        float cover = smoothstep(1.0 - u_cloud_cover, 1.0 - u_cloud_cover + 0.3, density);
        cover *= smoothstep(0.0, 0.12, up);
        // a full deck (overcast) is lit nearly evenly; broken clouds show brighter tops
        float relief = 0.25 * (1.0 - 0.7 * u_cloud_cover);
        float light = 1.0 - relief + relief * smoothstep(0.4, 0.9, density) + 0.3 * pow(max(s, 0.0), 8.0);
        c = mix(c, u_cloud_color * light, cover * 0.9);
    }
    f_color = vec4(tonemap(c), 1.0);
}
