#version 330
#include "common.glsl"
// Terrain and objects: world-space vertices (layout in engine/synth/meshes.py).
// Lighting, fog and shadow-map coordinates are computed per vertex and interpolated: on a software
// rasteriser every fragment-shader instruction and every varying costs, and these terms vary slowly
// across a triangle. The tint and the fog factor are folded into the light terms:
//   colour = texture * v_sun * lit + texture * v_ambient + v_fog
uniform mat4 u_view_proj;    // world -> clip (OpenCV camera, exact pinhole intrinsics)
uniform mat4 u_light_vp;     // world -> shadow-map clip (orthographic, from the sun)
uniform float u_layer_scale[32];  // 1 / metres per texture repeat, by layer
uniform vec3 u_cam_pos;
uniform vec3 u_sky_ambient;
uniform vec3 u_ground_ambient;
uniform float u_fog_density;
uniform float u_shadow_strength;

in vec3 in_pos;
in vec3 in_normal;
in vec2 in_uv;
in vec3 in_layers;           // layer a, layer b, blend
in vec3 in_tint;
in float in_emit;
in float in_ao;

out vec3 v_uv;               // texture coordinates of layer a, blend weight of layer b
flat out vec3 v_layer;       // layer a, layer b, uv scale of b relative to a
out vec3 v_sun;              // tint * sun light * fog keep (before shadowing)
out vec3 v_ambient;          // tint * (sky + ground bounce) * occlusion * fog keep
out vec3 v_fog;              // fog colour * (1 - fog keep)
out vec4 v_shadow;           // shadow-map coordinates in [0, 1], shadow weight (0 outside the map)

void main() {
    int la = int(in_layers.x + 0.5);
    int lb = int(in_layers.y + 0.5);
    v_uv = vec3(in_uv * u_layer_scale[la], in_layers.z);
    v_layer = vec3(in_layers.xy, u_layer_scale[lb] / u_layer_scale[la]);

    vec3 n = normalize(in_normal);
    vec3 to_p = in_pos - u_cam_pos;
    float dist = length(to_p);
    float keep = exp(-dist * u_fog_density);
    float ndl = max(dot(n, u_sun_dir), 0.0);
    vec3 ambient = mix(u_ground_ambient, u_sky_ambient, 0.5 - 0.5 * n.y) * in_ao;
    v_sun = in_tint * u_sun_color * (ndl * (1.0 - in_emit) * keep);
    v_ambient = in_tint * mix(ambient, vec3(1.0), in_emit) * keep;
    v_fog = sky_color(to_p / max(dist, 1e-6)) * (1.0 - keep);

    // normal offset against shadow acne
    vec4 s = u_light_vp * vec4(in_pos + n * 0.06, 1.0);
    float edge = max(abs(s.x), abs(s.y));
    v_shadow = vec4(s.xyz * 0.5 + 0.5, u_shadow_strength * (1.0 - smoothstep(0.85, 0.98, edge)) * (1.0 - in_emit));
    gl_Position = u_view_proj * vec4(in_pos, 1.0);
}
