#version 330 core
// u_opacity dims the image so the frustum lines and the path stay readable over it.
uniform sampler2D u_image;
uniform float u_opacity;
in vec2 v_uv;
out vec4 f_color;

void main() {
    f_color = vec4(texture(u_image, v_uv).rgb * u_opacity, 1.0);
}
